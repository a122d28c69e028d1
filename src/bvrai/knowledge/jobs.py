"""Running ingestion in the background (interim: an in-process runner until ``kit.jobs`` lands).

The document row is the source of truth. The runner wakes when an upload has been committed (the
route asks it to, after the response), and sweeps every ``knowledge_sweep_s`` for documents that
are queued, or processing with an expired lease (their worker died), and ingests them one at a time
(embedding is CPU-bound; two at once would only share the cores). Several processes may run a
runner against the same database: the claim in ``ingest_document`` lets one of them take a document.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.knowledge.ingest import ingest_document
from bvrai.knowledge.repository import KnowledgeRepository

log = structlog.get_logger(__name__)


class IngestionRunner:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="knowledge-ingestion")

    def wake(self) -> None:
        """New work was committed: look now rather than at the next sweep."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_due(self) -> int:
        """Ingest every document that is waiting now; returns how many were taken."""
        async with self.ctx.sessions() as db:
            due = await KnowledgeRepository(db).due_documents(utcnow())
        taken = 0
        for doc_id in due:
            status = await ingest_document(self.ctx, document_id=doc_id)
            taken += status != "skipped"
        return taken

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                while await self.run_due():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ingestion_sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.ctx.settings.knowledge_sweep_s)
