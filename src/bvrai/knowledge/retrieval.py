"""Hybrid retrieval: vector and keyword search inside the store, fused with Reciprocal Rank Fusion.

Each list is asked for more candidates than wanted (``k * CANDIDATES``); a chunk's fused score is
``sum(1 / (RRF_K + rank))`` over the lists it appears in (Cormack et al., 2009; ``RRF_K = 60``), so
a passage ranked well by both beats one ranked first by only one. ``mode`` picks one list alone
(vector or keyword) for comparison; the benchmark measures all three.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bvrai.knowledge.store import ChunkHit, VectorStore
from bvrai.providers.embeddings.base import Embedder

Mode = Literal["hybrid", "vector", "keyword"]
RRF_K = 60
CANDIDATES = 4


@dataclass(frozen=True, slots=True)
class Result:
    chunk_id: str
    knowledge_base_id: str
    document_id: str
    position: int
    text: str
    score: float
    vector_rank: int | None = None
    keyword_rank: int | None = None


@dataclass
class Timings:
    embed_ms: float = 0.0
    search_ms: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        return self.embed_ms + self.search_ms


def fuse(vector_hits: Sequence[ChunkHit], keyword_hits: Sequence[ChunkHit], k: int) -> list[Result]:
    scores: dict[str, float] = {}
    hits: dict[str, ChunkHit] = {}
    vector_rank: dict[str, int] = {}
    keyword_rank: dict[str, int] = {}
    for ranks, listed in ((vector_rank, vector_hits), (keyword_rank, keyword_hits)):
        for rank, hit in enumerate(listed, start=1):
            ranks[hit.chunk_id] = rank
            hits.setdefault(hit.chunk_id, hit)
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (RRF_K + rank)
    ordered = sorted(scores, key=lambda cid: (-scores[cid], cid))[:k]
    return [
        _result(hits[cid], scores[cid], vector_rank=vector_rank.get(cid), keyword_rank=keyword_rank.get(cid))
        for cid in ordered
    ]


def _result(hit: ChunkHit, score: float, *, vector_rank: int | None = None, keyword_rank: int | None = None) -> Result:
    return Result(hit.chunk_id, hit.kb_id, hit.doc_id, hit.ord, hit.text, score, vector_rank, keyword_rank)


async def search(
    *,
    store: VectorStore,
    embedder: Embedder | None,
    org_id: str,
    kb_ids: Sequence[str],
    dimensions: int,
    query: str,
    k: int = 5,
    mode: Mode = "hybrid",
    timings: Timings | None = None,
) -> list[Result]:
    """The top ``k`` passages for ``query`` among the knowledge bases ``kb_ids`` of ``org_id``.

    The caller has checked that the knowledge bases belong to the org and share ``dimensions``; the
    store filters by org again inside the search.
    """
    timings = timings if timings is not None else Timings()
    query = query.strip()
    if not query or not kb_ids:
        return []
    want = k if mode != "hybrid" else k * CANDIDATES

    async def by_vector() -> list[ChunkHit]:
        if mode not in ("hybrid", "vector"):
            return []
        assert embedder is not None
        started = time.perf_counter()
        (vector,) = await embedder.embed([query])
        timings.embed_ms += (time.perf_counter() - started) * 1000
        return await store.vector_search(org_id=org_id, kb_ids=kb_ids, vector=vector, k=want, dimensions=dimensions)

    async def by_keyword() -> list[ChunkHit]:
        if mode not in ("hybrid", "keyword"):
            return []
        return await store.keyword_search(org_id=org_id, kb_ids=kb_ids, query=query, k=want)

    # The keyword search needs no embedding: it runs (in the store's thread) while the query is embedded.
    started, embedded_before = time.perf_counter(), timings.embed_ms
    vector_hits, keyword_hits = await asyncio.gather(by_vector(), by_keyword())
    wall_ms = (time.perf_counter() - started) * 1000
    timings.search_ms += max(wall_ms - (timings.embed_ms - embedded_before), 0.0)
    if mode == "vector":
        return [_result(h, h.score, vector_rank=i) for i, h in enumerate(vector_hits[:k], start=1)]
    if mode == "keyword":
        return [_result(h, h.score, keyword_rank=i) for i, h in enumerate(keyword_hits[:k], start=1)]
    return fuse(vector_hits, keyword_hits, k)
