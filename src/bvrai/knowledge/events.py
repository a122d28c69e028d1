"""The webhook events a document's ingestion emits when it ends: ``document.ready`` and ``document.failed``.

Recorded through the webhooks service in the same transaction as the document's final status, so a
receiver is told exactly once the status is committed (deliveries are queued after the commit).
"""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.knowledge.models import KnowledgeDocument
from bvrai.webhooks.service import emit_event

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
    await emit_event(session, org_id=document.org_id, type=event, data=payload(document))
    log.info(event, org_id=document.org_id, document_id=document.id)
