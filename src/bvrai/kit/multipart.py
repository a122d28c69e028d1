"""One uploaded file from a multipart body, under a size limit, for every upload route (API and
dashboard): a declared size over the limit is refused before the body is read, and the body is
counted while it streams, so an undeclared one is refused as soon as it passes the limit."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from bvrai.kit.errors import BadRequest, PayloadTooLarge, ValidationFailed

# Room for the multipart framing and the other small fields around the file.
MULTIPART_OVERHEAD = 64 * 1024
MISSING = "file: choose a file to upload (a multipart part named 'file')"


async def _counted(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit + MULTIPART_OVERHEAD:
            raise PayloadTooLarge(f"the file is over the {limit:,}-byte limit")
        yield chunk


@asynccontextmanager
async def file_part(request: Request, *, limit: int) -> AsyncIterator[UploadFile]:
    """The part ``file`` of ``request`` (spooled by Starlette), closed on leaving the block.

    Raises ``PayloadTooLarge`` (413), ``BadRequest`` (a malformed body) and ``ValidationFailed`` (no
    file part). The part itself may still be up to ``MULTIPART_OVERHEAD`` over ``limit``: callers
    check the size they read or copy."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"the file is {int(declared):,} bytes, over the {limit:,}-byte limit")
    parser = MultiPartParser(request.headers, _counted(request.stream(), limit), max_files=1, max_fields=5)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"invalid multipart body: {exc.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed(MISSING, errors=[{"loc": ["body", "file"], "msg": MISSING, "type": "missing"}])
        yield upload
    finally:
        await form.close()
