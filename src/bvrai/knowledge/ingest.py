"""Ingesting one document: extract its text, chunk it, embed the chunks in batches, write them to the store.

``ingest_document`` is written to be run again after any crash, by any worker, with the same end
state as one uninterrupted run:

- The chunking is deterministic and a chunk's id is ``<document id>:<position>``, so the same
  document always yields the same ids; writing a chunk again replaces it.
- Chunks already in the store (from the run that died) are not embedded again: the run resumes after
  the last batch that was committed to the store.
- Chunks past the new end (a re-ingest of a changed document) are deleted at the end.
- The document row is the source of truth: a worker claims it with a lease it renews after every
  batch; a document whose lease ran out (its worker died) is claimed by the next sweep.

A document that cannot be read ends ``failed`` with the reason; a provider outage leaves it queued
for the next sweep (up to ``MAX_ATTEMPTS``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog

from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.knowledge.chunking import chunk_text
from bvrai.knowledge.extract import ExtractionError, UnsupportedType, extract, sniff
from bvrai.knowledge.repository import KnowledgeRepository
from bvrai.knowledge.runtime import embedder_for, store_for
from bvrai.knowledge.store import ChunkRecord
from bvrai.providers.base import ProviderError

log = structlog.get_logger(__name__)

BATCH = 32
MAX_ATTEMPTS = 5

# Test hook: called after each batch is written (a crash test slows ingestion down with it).
AfterBatch = Callable[[int, int], Awaitable[None]]


def chunk_id(doc_id: str, ord: int) -> str:
    return f"{doc_id}:{ord:06d}"


async def ingest_document(ctx: AppContext, *, document_id: str, after_batch: AfterBatch | None = None) -> str:
    """Run (or resume) the ingestion of one document; returns its final status, or ``skipped`` when
    another worker holds it or it is not waiting."""
    lease = timedelta(seconds=ctx.settings.knowledge_lease_s)
    async with ctx.sessions() as db:
        repo = KnowledgeRepository(db)
        now = utcnow()
        if not await repo.claim(document_id, now=now, until=now + lease):
            return "skipped"
        await db.commit()
        doc = await repo.document_by_id(document_id)
        kb = await repo.knowledge_base_any_org(doc.knowledge_base_id) if doc else None
        if doc is None or kb is None or kb.org_id != doc.org_id:
            return "skipped"
        try:
            embedder = await embedder_for(db, ctx=ctx, kb=kb)
        except ProviderError as exc:
            return await _retry_later(ctx, document_id, f"the embedding provider is unavailable: {exc}")
        org_id, kb_id, dims = doc.org_id, kb.id, kb.embedding_dimensions
        storage_key, name, attempts = doc.storage_key, doc.name, doc.attempts
        max_tokens, overlap = kb.chunk_tokens, kb.chunk_overlap
    if attempts > MAX_ATTEMPTS:
        return await _finish(ctx, document_id, status="failed", error=f"gave up after {MAX_ATTEMPTS} attempts")
    # The claim is kept alive by a heartbeat, not by the batches: a slow batch on a busy machine must
    # not let another worker take the document over while this one is still working on it.
    heartbeat = asyncio.create_task(_keep_claim(ctx, document_id, lease))
    try:
        return await _ingest_claimed(
            ctx,
            document_id,
            embedder=embedder,
            org_id=org_id,
            kb_id=kb_id,
            dims=dims,
            storage_key=storage_key,
            name=name,
            max_tokens=max_tokens,
            overlap=overlap,
            after_batch=after_batch,
        )
    finally:
        heartbeat.cancel()


def _read_text(path: Path, name: str) -> tuple[str, str]:
    data = path.read_bytes()
    kind = sniff(data, filename=name)
    return kind, extract(data, kind)


async def _keep_claim(ctx: AppContext, document_id: str, lease: timedelta) -> None:
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        try:
            async with ctx.sessions() as db:
                await KnowledgeRepository(db).renew(document_id, until=utcnow() + lease)
                await db.commit()
        except Exception:  # a busy database: the next beat tries again, well within the lease
            log.warning("ingest_heartbeat_failed", document_id=document_id, exc_info=True)


async def _ingest_claimed(
    ctx: AppContext,
    document_id: str,
    *,
    embedder: Any,
    org_id: str,
    kb_id: str,
    dims: int,
    storage_key: str | None,
    name: str,
    max_tokens: int,
    overlap: int,
    after_batch: AfterBatch | None,
) -> str:
    lease = timedelta(seconds=ctx.settings.knowledge_lease_s)
    try:
        kind, text = await asyncio.to_thread(_read_text, ctx.storage.path(storage_key or ""), name)
    except (UnsupportedType, ExtractionError) as exc:
        return await _finish(ctx, document_id, status="failed", error=str(exc))
    except OSError as exc:
        return await _finish(ctx, document_id, status="failed", error=f"the stored file cannot be read: {exc}")
    except Exception as exc:  # a parser library's own bug on odd input: the document fails, the worker goes on
        log.exception("extraction_crashed", document_id=document_id)
        return await _finish(ctx, document_id, status="failed", error=f"text extraction failed: {type(exc).__name__}")

    chunks = await asyncio.to_thread(chunk_text, text, max_tokens=max_tokens, overlap=overlap)
    store = store_for(ctx)
    have = await store.chunk_ids(org_id=org_id, doc_id=document_id)
    todo = [c for c in chunks if chunk_id(document_id, c.ord) not in have]
    done = len(chunks) - len(todo)
    log.info("ingest_start", document_id=document_id, chunks=len(chunks), resume_from=done)
    if not await _progress(ctx, document_id, done=done, total=len(chunks), lease=lease):
        return "skipped"
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        try:
            vectors = await embedder.embed([c.text for c in batch])
        except ProviderError as exc:
            return await _retry_later(ctx, document_id, f"embedding failed: {exc}")
        records = [
            ChunkRecord(chunk_id(document_id, c.ord), org_id, kb_id, document_id, c.ord, c.text, v)
            for c, v in zip(batch, vectors, strict=True)
        ]
        await store.upsert(records, dimensions=dims)
        done += len(batch)
        if not await _progress(ctx, document_id, done=done, total=len(chunks), lease=lease):
            # Deleted (or re-queued) while we worked: leave no vectors behind for a deleted document.
            await _drop_if_deleted(ctx, document_id, org_id=org_id, dims=dims)
            return "skipped"
        if after_batch is not None:
            await after_batch(done, len(chunks))
    await store.delete_document(org_id=org_id, doc_id=document_id, keep_below=len(chunks), dimensions=dims)
    count = await store.count(org_id=org_id, doc_id=document_id)
    return await _finish(ctx, document_id, status="ready", chunk_count=count, kind=kind)


async def _progress(ctx: AppContext, document_id: str, *, done: int, total: int, lease: timedelta) -> bool:
    async with ctx.sessions() as db:
        ok = await KnowledgeRepository(db).progress(document_id, done=done, total=total, until=utcnow() + lease)
        await db.commit()
        return ok


async def _drop_if_deleted(ctx: AppContext, document_id: str, *, org_id: str, dims: int) -> None:
    async with ctx.sessions() as db:
        still_there = await KnowledgeRepository(db).document_by_id(document_id)
    if still_there is None:
        await store_for(ctx).delete_document(org_id=org_id, doc_id=document_id, dimensions=dims)


async def _retry_later(ctx: AppContext, document_id: str, reason: str) -> str:
    """A passing failure (a provider outage): back to the queue; the next sweep tries again."""
    async with ctx.sessions() as db:
        doc = await KnowledgeRepository(db).document_by_id(document_id)
        if doc is None:
            return "skipped"
        if doc.attempts >= MAX_ATTEMPTS:
            doc.status, doc.error, doc.lease_expires_at = "failed", reason, None
        else:
            doc.status, doc.error, doc.lease_expires_at = "queued", reason, None
        await db.commit()
        log.warning("ingest_retry_later", document_id=document_id, reason=reason, attempts=doc.attempts)
        return doc.status


async def _finish(
    ctx: AppContext,
    document_id: str,
    *,
    status: str,
    error: str | None = None,
    chunk_count: int = 0,
    kind: str | None = None,
) -> str:
    from bvrai.knowledge import events

    async with ctx.sessions() as db:
        doc = await KnowledgeRepository(db).document_by_id(document_id)
        if doc is None:
            return "skipped"
        doc.status, doc.error, doc.lease_expires_at = status, error, None
        doc.chunk_count = chunk_count
        if kind:
            doc.content_type = kind
        if status == "ready":
            doc.ready_at = utcnow()
            doc.chunks_done = doc.chunks_total = chunk_count
        await events.document_finished(db, document=doc)
        await db.commit()
    log.info("ingest_done", document_id=document_id, status=status, chunks=chunk_count, error=error)
    return status
