"""Ingestion as a background job on ``kit.jobs``: ``knowledge.ingest`` runs ``ingest_document``.

The upload route enqueues the job in the request's transaction (it reaches a worker only after the
commit). The document row stays the source of truth of the document's own progress and claim
(``ingest.py``); the job is how the work reaches a worker and comes back after a crash:

- the document ends ``ready`` or ``failed``: the job is done;
- a provider outage put the document back to ``queued``: the job runs again later (``RetryLater``);
- another worker's claim on the document is still live (a crashed worker's lease has not run out
  yet, or a duplicate kick): the job waits until the claim would expire and tries again.

``knowledge.requeue`` runs periodically in every job-running process and enqueues a job for any
document left waiting without one (for instance a document queued by a build that ingested in
process); the job key ``knowledge.ingest:<document id>`` keeps that from doubling work.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.kit import jobs
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.knowledge.ingest import ingest_document
from bvrai.knowledge.repository import PENDING, KnowledgeRepository

KIND = "knowledge.ingest"
PROVIDER_RETRY_S = 30.0


async def enqueue_ingestion(session: AsyncSession, *, document_id: str) -> None:
    await jobs.enqueue(session, KIND, key=f"{KIND}:{document_id}", document_id=document_id)


@jobs.task(KIND, max_attempts=5, backoff_s=5.0)
async def ingest(ctx: AppContext, *, document_id: str) -> None:
    status = await ingest_document(ctx, document_id=document_id)
    if status == "queued":
        raise jobs.RetryLater(PROVIDER_RETRY_S, "the embedding provider was unavailable")
    if status != "skipped":
        return
    async with ctx.sessions() as session:
        doc = await KnowledgeRepository(session).document_by_id(document_id)
    if doc is None or doc.status not in PENDING:
        return  # deleted, or finished by another worker
    wait_s = ctx.settings.knowledge_lease_s
    if doc.lease_expires_at is not None:
        wait_s = max(0.5, (doc.lease_expires_at - utcnow()).total_seconds() + 0.5)
    raise jobs.RetryLater(wait_s, "another worker holds the document")


@jobs.periodic("knowledge.requeue", every_s=60)
async def requeue(ctx: AppContext) -> None:
    async with ctx.sessions() as session:
        for document_id in await KnowledgeRepository(session).due_documents(utcnow()):
            await enqueue_ingestion(session, document_id=document_id)
        await session.commit()
