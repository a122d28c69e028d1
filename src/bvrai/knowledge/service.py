"""Knowledge-base use cases: knowledge bases, their documents, search (for users and for calls).

Uploads and fetched pages are stored as files (``knowledge/<org>/<kb>/<doc>``), the document row is
queued and a ``knowledge.ingest`` job enqueued in the same transaction; ingestion happens in a worker
(``jobs.py``, ``ingest.py``). Every lookup goes through the
org-scoped repository first, so another org's knowledge base is a 404 before any file, URL or
vector is touched; the vector store filters by org again inside each search.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.audit.service import record
from bvrai.identity.principal import Principal
from bvrai.kit.context import AppContext
from bvrai.kit.errors import Conflict, PayloadTooLarge, Problem, UnsupportedMediaType, ValidationFailed
from bvrai.kit.ids import new_id
from bvrai.kit.pagination import PageParams
from bvrai.kit.safe_http import BlockedDestination, FetchFailed, ResponseTooLarge, SafeHttpClient
from bvrai.kit.tenancy import found
from bvrai.knowledge import retrieval
from bvrai.knowledge.extract import UnsupportedType, sniff
from bvrai.knowledge.jobs import enqueue_ingestion
from bvrai.knowledge.models import KnowledgeBase, KnowledgeDocument
from bvrai.knowledge.repository import KnowledgeRepository
from bvrai.knowledge.runtime import embedder_for, store_for
from bvrai.knowledge.schemas import DocumentUrlIn, KnowledgeBaseIn, KnowledgeBasePatch
from bvrai.providers.base import ProviderError
from bvrai.providers.embeddings.local import DIMENSIONS as LOCAL_DIMENSIONS
from bvrai.providers.embeddings.local import MODEL as LOCAL_MODEL
from bvrai.providers.registry import default_registry


class UrlNotAllowed(Problem):
    status, slug, title = 422, "url-not-allowed", "URL not allowed"


class EmbeddingUnavailable(Problem):
    status, slug, title = 503, "embedding-unavailable", "The embedding provider is unavailable"


class FetchProblem(Problem):
    status, slug, title = 422, "fetch-failed", "The URL could not be fetched"


# --- knowledge bases ---------------------------------------------------------------------------------------


def _embedding_choice(data: KnowledgeBaseIn) -> tuple[str, str, int]:
    provider = data.embedding.provider
    entry = default_registry.get("embeddings", provider)
    model = data.embedding.model or str(entry.defaults["model"])
    if provider == "local":
        if model != LOCAL_MODEL or data.embedding.dimensions not in (None, LOCAL_DIMENSIONS):
            raise ValidationFailed(f"the local embedding model is {LOCAL_MODEL} with {LOCAL_DIMENSIONS} dimensions")
        return provider, model, LOCAL_DIMENSIONS
    return provider, model, int(data.embedding.dimensions or entry.defaults["dimensions"])


async def create_knowledge_base(session: AsyncSession, *, principal: Principal, data: KnowledgeBaseIn) -> KnowledgeBase:
    provider, model, dimensions = _embedding_choice(data)
    kb = KnowledgeBase(
        id=new_id("kb"),
        org_id=principal.org_id,
        name=data.name,
        description=data.description,
        embedding_provider=provider,
        embedding_model=model,
        embedding_dimensions=dimensions,
        chunk_tokens=data.chunk_tokens,
        chunk_overlap=data.chunk_overlap,
    )
    repo = KnowledgeRepository(session)
    repo.add(kb)
    await repo.flush()
    await record(
        session,
        actor=principal.actor,
        action="knowledge_base.create",
        target_type="knowledge_base",
        target_id=kb.id,
        changes={"name": kb.name, "embedding": f"{provider}:{model}:{dimensions}"},
    )
    return kb


async def list_knowledge_bases(
    session: AsyncSession, *, principal: Principal, params: PageParams
) -> tuple[list[KnowledgeBase], str | None]:
    return await KnowledgeRepository(session).knowledge_bases(principal.org_id, params)


async def get_knowledge_base(session: AsyncSession, *, principal: Principal, kb_id: str) -> KnowledgeBase:
    return found(await KnowledgeRepository(session).knowledge_base(principal.org_id, kb_id), "knowledge base")


async def update_knowledge_base(
    session: AsyncSession, *, principal: Principal, kb_id: str, patch: KnowledgeBasePatch
) -> KnowledgeBase:
    kb = await get_knowledge_base(session, principal=principal, kb_id=kb_id)
    changes = patch.model_dump(include=patch.model_fields_set)
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed("name: may not be null")
    for key, value in changes.items():
        setattr(kb, key, value)
    await record(
        session,
        actor=principal.actor,
        action="knowledge_base.update",
        target_type="knowledge_base",
        target_id=kb.id,
        changes=changes,
    )
    return kb


async def delete_knowledge_base(session: AsyncSession, *, ctx: AppContext, principal: Principal, kb_id: str) -> None:
    kb = await get_knowledge_base(session, principal=principal, kb_id=kb_id)
    repo = KnowledgeRepository(session)
    from bvrai.kit.db import utcnow

    now = utcnow()
    for doc in await repo.all_documents(principal.org_id, kb_id):
        doc.deleted_at = now
        _remove_file(ctx, doc)
    kb.deleted_at = now
    await store_for(ctx).delete_knowledge_base(org_id=kb.org_id, kb_id=kb.id, dimensions=kb.embedding_dimensions)
    await record(
        session, actor=principal.actor, action="knowledge_base.delete", target_type="knowledge_base", target_id=kb.id
    )


# --- documents ---------------------------------------------------------------------------------------------


def _storage_key(org_id: str, kb_id: str, doc_id: str) -> str:
    return f"knowledge/{org_id}/{kb_id}/{doc_id}"


def _remove_file(ctx: AppContext, doc: KnowledgeDocument) -> None:
    if doc.storage_key:
        ctx.storage.path(doc.storage_key).unlink(missing_ok=True)


def _clean_name(name: str | None, fallback: str) -> str:
    base = PurePosixPath((name or "").replace("\\", "/")).name.strip()
    return (base or fallback)[:300]


async def _queue(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    kb: KnowledgeBase,
    doc_id: str,
    name: str,
    source: str,
    url: str | None,
    stored: Path,
    declared_type: str = "",
) -> KnowledgeDocument:
    try:
        kind, size, sha256 = await asyncio.to_thread(_inspect, stored, name, declared_type)
    except UnsupportedType as exc:
        await asyncio.to_thread(stored.unlink, True)
        raise UnsupportedMediaType(str(exc)) from None
    doc = KnowledgeDocument(
        id=doc_id,
        org_id=kb.org_id,
        knowledge_base_id=kb.id,
        name=name,
        source=source,
        url=url,
        content_type=kind,
        size_bytes=size,
        sha256=sha256,
        storage_key=_storage_key(kb.org_id, kb.id, doc_id),
        status="queued",
    )
    repo = KnowledgeRepository(session)
    repo.add(doc)
    await repo.flush()
    await enqueue_ingestion(session, document_id=doc.id)
    await record(
        session,
        actor=principal.actor,
        action="document.create",
        target_type="document",
        target_id=doc.id,
        changes={"knowledge_base_id": kb.id, "name": name, "source": source, "content_type": kind},
    )
    return doc


def _inspect(stored: Path, name: str, declared_type: str) -> tuple[str, int, str]:
    """The sniffed kind, size and SHA-256 of a stored file (blocking: run in a thread)."""
    data = stored.read_bytes()
    return sniff(data, filename=name, declared=declared_type), len(data), hashlib.sha256(data).hexdigest()


def staging_path(ctx: AppContext, *, principal: Principal, kb_id: str) -> tuple[str, Path]:
    """A new document id and the file its upload is written to."""
    doc_id = new_id("doc")
    return doc_id, ctx.storage.writable_path(_storage_key(principal.org_id, kb_id, doc_id))


async def add_upload(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    kb_id: str,
    doc_id: str,
    stored: Path,
    filename: str | None,
    declared_type: str = "",
) -> KnowledgeDocument:
    """Queue an uploaded file already written to ``stored`` (by ``staging_path``) for ingestion."""
    kb = await get_knowledge_base(session, principal=principal, kb_id=kb_id)
    name = _clean_name(filename, doc_id)
    return await _queue(
        session,
        ctx=ctx,
        principal=principal,
        kb=kb,
        doc_id=doc_id,
        name=name,
        source="upload",
        url=None,
        stored=stored,
        declared_type=declared_type,
    )


async def add_url(
    session: AsyncSession, *, ctx: AppContext, principal: Principal, kb_id: str, data: DocumentUrlIn
) -> KnowledgeDocument:
    """Fetch a page through the SSRF guard now (so a refusal is the answer) and queue it."""
    kb = await get_knowledge_base(session, principal=principal, kb_id=kb_id)
    url = str(data.url)
    limit = ctx.settings.knowledge_max_upload_bytes
    async with SafeHttpClient(
        allow=ctx.settings.ssrf_allow,
        max_response_bytes=limit,
        total_timeout=ctx.settings.knowledge_fetch_timeout_s,
        user_agent="bvrai-knowledge",
    ) as client:
        try:
            response = await client.request("GET", url)
        except BlockedDestination as exc:
            raise UrlNotAllowed(f"{exc.reason}; ask the operator to allow-list it (BVRAI_SSRF_ALLOW)") from None
        except ResponseTooLarge:
            raise PayloadTooLarge(f"the page is larger than the {limit}-byte limit") from None
        except FetchFailed as exc:
            raise FetchProblem(exc.reason) from None
    if not response.is_success:
        raise FetchProblem(f"the server answered {response.status_code}")
    doc_id = new_id("doc")
    stored = ctx.storage.writable_path(_storage_key(kb.org_id, kb.id, doc_id))
    await asyncio.to_thread(stored.write_bytes, response.content)
    name = data.name or _clean_name(PurePosixPath(response.url.split("?", 1)[0]).name, url)
    return await _queue(
        session,
        ctx=ctx,
        principal=principal,
        kb=kb,
        doc_id=doc_id,
        name=name,
        source="url",
        url=url,
        stored=stored,
        declared_type=response.content_type,
    )


async def list_documents(
    session: AsyncSession, *, principal: Principal, kb_id: str, params: PageParams
) -> tuple[list[KnowledgeDocument], str | None]:
    await get_knowledge_base(session, principal=principal, kb_id=kb_id)
    return await KnowledgeRepository(session).documents(principal.org_id, kb_id, params)


async def get_document(session: AsyncSession, *, principal: Principal, kb_id: str, doc_id: str) -> KnowledgeDocument:
    return found(await KnowledgeRepository(session).document(principal.org_id, kb_id, doc_id), "document")


async def delete_document(
    session: AsyncSession, *, ctx: AppContext, principal: Principal, kb_id: str, doc_id: str
) -> None:
    from bvrai.kit.db import utcnow

    kb = await get_knowledge_base(session, principal=principal, kb_id=kb_id)
    doc = await get_document(session, principal=principal, kb_id=kb_id, doc_id=doc_id)
    doc.deleted_at = utcnow()
    await store_for(ctx).delete_document(org_id=kb.org_id, doc_id=doc.id, dimensions=kb.embedding_dimensions)
    _remove_file(ctx, doc)
    await record(session, actor=principal.actor, action="document.delete", target_type="document", target_id=doc.id)


async def reingest_document(
    session: AsyncSession, *, principal: Principal, kb_id: str, doc_id: str
) -> KnowledgeDocument:
    doc = await get_document(session, principal=principal, kb_id=kb_id, doc_id=doc_id)
    if doc.status in ("queued", "processing"):
        raise Conflict("the document is already waiting for or in ingestion")
    doc.status, doc.error, doc.lease_expires_at, doc.attempts = "queued", None, None, 0
    doc.chunks_done = 0
    await enqueue_ingestion(session, document_id=doc.id)
    await record(session, actor=principal.actor, action="document.reingest", target_type="document", target_id=doc.id)
    return doc


# --- search ------------------------------------------------------------------------------------------------


async def search(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    kb_id: str,
    query: str,
    top_k: int,
    mode: retrieval.Mode,
    timings: retrieval.Timings,
) -> list[retrieval.Result]:
    kb = await get_knowledge_base(session, principal=principal, kb_id=kb_id)
    try:
        embedder = await embedder_for(session, ctx=ctx, kb=kb) if mode != "keyword" else None
        return await retrieval.search(
            store=store_for(ctx),
            embedder=embedder,
            org_id=kb.org_id,
            kb_ids=[kb.id],
            dimensions=kb.embedding_dimensions,
            query=query,
            k=top_k,
            mode=mode,
            timings=timings,
        )
    except ProviderError as exc:
        raise EmbeddingUnavailable(str(exc)) from None


async def search_for_call(
    session: AsyncSession,
    *,
    ctx: AppContext,
    org_id: str,
    kb_ids: Sequence[str],
    query: str,
    top_k: int,
    timings: retrieval.Timings | None = None,
) -> list[dict[str, Any]]:
    """What a call's agent may know: the knowledge bases of *its own org* among those its spec names.

    Ids of another org (or deleted ones) are dropped silently, exactly like missing ones. Knowledge
    bases built with different embedding models are searched separately and their results fused.
    """
    kbs = await KnowledgeRepository(session).knowledge_bases_by_ids(org_id, kb_ids)
    if not kbs:
        return []
    groups: dict[tuple[str, str, int], list[KnowledgeBase]] = {}
    for kb in kbs:
        groups.setdefault((kb.embedding_provider, kb.embedding_model, kb.embedding_dimensions), []).append(kb)
    results: list[list[retrieval.Result]] = []
    for (_provider, _model, dims), members in groups.items():
        embedder = await embedder_for(session, ctx=ctx, kb=members[0])
        results.append(
            await retrieval.search(
                store=store_for(ctx),
                embedder=embedder,
                org_id=org_id,
                kb_ids=[kb.id for kb in members],
                dimensions=dims,
                query=query,
                k=top_k,
                timings=timings,
            )
        )
    merged = results[0] if len(results) == 1 else _merge(results, top_k)
    return [{"text": r.text, "score": round(r.score, 4), "document_id": r.document_id} for r in merged]


def _merge(lists: Sequence[Sequence[retrieval.Result]], k: int) -> list[retrieval.Result]:
    scored: dict[str, tuple[float, retrieval.Result]] = {}
    for listed in lists:
        for rank, result in enumerate(listed, start=1):
            prior = scored.get(result.chunk_id, (0.0, result))[0]
            scored[result.chunk_id] = (prior + 1.0 / (retrieval.RRF_K + rank), result)
    return [r for _, r in sorted(scored.values(), key=lambda pair: -pair[0])][:k]


def copy_upload(source: Any, target: Path) -> int:
    """Copy a spooled upload to its storage file; returns the size."""
    source.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    return target.stat().st_size
