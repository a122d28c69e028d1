"""A document upload from a multipart body, for the API and the dashboard alike: read under the size
limit (``kit.multipart``), copied to the staging area, then handed to ``service.add_upload``. A failed
add removes the staged file."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from bvrai.identity.principal import Principal
from bvrai.kit.context import AppContext
from bvrai.kit.errors import PayloadTooLarge
from bvrai.kit.multipart import file_part
from bvrai.knowledge import service
from bvrai.knowledge.models import KnowledgeDocument


async def add_uploaded_document(
    request: Request, session: AsyncSession, *, ctx: AppContext, principal: Principal, kb_id: str
) -> KnowledgeDocument:
    """The multipart part ``file`` of ``request`` as a new document of ``kb_id``, queued for ingestion.

    Raises ``PayloadTooLarge`` (413: declared or counted size over ``knowledge_max_upload_bytes``),
    ``BadRequest`` (a malformed multipart body) and ``ValidationFailed`` (no file part)."""
    limit = ctx.settings.knowledge_max_upload_bytes
    async with file_part(request, limit=limit) as upload:
        doc_id, target = service.staging_path(ctx, principal=principal, kb_id=kb_id)
        size = await asyncio.to_thread(service.copy_upload, upload.file, target)
        filename, content_type = upload.filename or "", upload.content_type or ""
    try:
        if size > limit:
            raise PayloadTooLarge(f"the file is {size:,} bytes, over the {limit:,}-byte limit")
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
