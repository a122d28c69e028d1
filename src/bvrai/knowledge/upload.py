"""A document upload from a multipart body, for the API and the dashboard alike: streamed to the
staging area while its bytes are counted, refused past the size limit without reading on, then
handed to ``service.add_upload``. A failed add removes the staged file."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from bvrai.identity.principal import Principal
from bvrai.kit.context import AppContext
from bvrai.kit.errors import BadRequest, ValidationFailed
from bvrai.knowledge import service
from bvrai.knowledge.models import KnowledgeDocument

# Room for the multipart framing and the other small fields around the file.
MULTIPART_OVERHEAD = 64 * 1024


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise service.PayloadTooLarge(f"the file is over the {limit - MULTIPART_OVERHEAD:,}-byte limit")
        yield chunk


async def add_uploaded_document(
    request: Request, session: AsyncSession, *, ctx: AppContext, principal: Principal, kb_id: str
) -> KnowledgeDocument:
    """The multipart part ``file`` of ``request`` as a new document of ``kb_id``, queued for ingestion.

    Raises ``PayloadTooLarge`` (413: declared or counted size over ``knowledge_max_upload_bytes``),
    ``BadRequest`` (a malformed multipart body) and ``ValidationFailed`` (no file part)."""
    limit = ctx.settings.knowledge_max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise service.PayloadTooLarge(f"the file is {int(declared):,} bytes, over the {limit:,}-byte limit")
    parser = MultiPartParser(
        request.headers, _limited(request.stream(), limit + MULTIPART_OVERHEAD), max_files=1, max_fields=5
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"invalid multipart body: {exc.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed("file: choose a file to upload (a multipart part named 'file')")
        doc_id, target = service.staging_path(ctx, principal=principal, kb_id=kb_id)
        size = await asyncio.to_thread(service.copy_upload, upload.file, target)
        filename, content_type = upload.filename, upload.content_type or ""
    finally:
        await form.close()
    try:
        if size > limit:
            raise service.PayloadTooLarge(f"the file is {size:,} bytes, over the {limit:,}-byte limit")
        return await service.add_upload(
            session,
            ctx=ctx,
            principal=principal,
            kb_id=kb_id,
            doc_id=doc_id,
            stored=target,
            filename=filename,
            declared_type=content_type,
        )
    except BaseException:
        with contextlib.suppress(OSError):
            target.unlink(missing_ok=True)
        raise
