"""The events a document's ingestion emits when it ends: ``document.ready`` and ``document.failed``.

They go to the webhooks service when this build has one (``bvrai.webhooks.service.emit``); until
then they are logged, so the integration point is one place.
"""

from __future__ import annotations

import importlib
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.knowledge.models import KnowledgeDocument

log = structlog.get_logger(__name__)


def payload(document: KnowledgeDocument) -> dict[str, Any]:
    return {
        "id": document.id,
        "knowledge_base_id": document.knowledge_base_id,
        "name": document.name,
        "status": document.status,
        "error": document.error,
        "chunk_count": document.chunk_count,
    }


async def document_finished(session: AsyncSession, *, document: KnowledgeDocument) -> None:
    event = "document.ready" if document.status == "ready" else "document.failed"
    try:
        webhooks: Any = importlib.import_module("bvrai.webhooks.service")
    except ImportError:
        webhooks = None
    emit = getattr(webhooks, "emit", None)
    if emit is not None:
        await emit(session, org_id=document.org_id, event=event, data=payload(document))
    log.info(event, org_id=document.org_id, document_id=document.id)
