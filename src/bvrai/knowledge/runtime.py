"""What a process keeps for knowledge bases: one vector store and one embedder per model, shared.

The embedded store is a SQLite file beside (not inside) the main database, which may be PostgreSQL:
``<data_dir>/vectors.sqlite3`` unless ``BVRAI_VECTOR_STORE_URL`` says otherwise.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.kit.context import AppContext
from bvrai.knowledge.models import KnowledgeBase
from bvrai.knowledge.store import VectorStore, open_store
from bvrai.providers.base import ProviderContext
from bvrai.providers.embeddings.base import Embedder

_stores: dict[tuple[str, str], VectorStore] = {}
_local_embedders: dict[str, Embedder] = {}


def store_for(ctx: AppContext) -> VectorStore:
    key = (ctx.settings.vector_store_url or "", str(ctx.settings.data_dir.resolve()))
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = open_store(ctx.settings.vector_store_url, data_dir=ctx.settings.data_dir)
    return store


async def close_stores() -> None:
    stores = list(_stores.values())
    _stores.clear()
    await asyncio.gather(*(s.close() for s in stores), return_exceptions=True)


class _EmbeddingConfig:
    def __init__(self, model: str, dimensions: int) -> None:
        self.model, self.dimensions = model, dimensions


async def embedder_for(session: AsyncSession, *, ctx: AppContext, kb: KnowledgeBase) -> Embedder:
    """The embedder a knowledge base was built with (its provider, model and size, never another)."""
    from bvrai.providers.builder import provider_context
    from bvrai.providers.registry import default_registry

    if kb.embedding_provider == "local" and kb.embedding_model in _local_embedders:
        return _local_embedders[kb.embedding_model]
    import bvrai.providers.embeddings  # noqa: F401 (attaches the factories to the registry)

    pctx: ProviderContext = await provider_context(
        session, ctx=ctx, org_id=kb.org_id, stage="embeddings", provider=kb.embedding_provider, sample_rate=0
    )
    factory: Any = default_registry.get("embeddings", kb.embedding_provider).impl
    embedder: Embedder = factory(_EmbeddingConfig(kb.embedding_model, kb.embedding_dimensions), pctx)
    if kb.embedding_provider == "local":
        _local_embedders[kb.embedding_model] = embedder
    return embedder
