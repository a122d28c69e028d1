"""The scale-out store: a Qdrant server through qdrant-client (``BVRAI_VECTOR_STORE_URL=http://qdrant:6333``).

One collection per vector size (``bvrai_chunks_<dims>``) with two vectors per point: the dense
embedding (cosine) and a sparse ``keywords`` vector (term counts over hashed word ids, with Qdrant's
IDF modifier, which makes its dot product a BM25-like keyword score computed by the server). Payload
indexes on ``org_id``, ``kb_id`` and ``doc_id`` make the org and knowledge-base filter part of every
search. Point ids are UUIDv5 of the chunk id, so rewriting a document replaces its points.
"""

from __future__ import annotations

import uuid
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bvrai.knowledge.store.base import STOPWORDS, ChunkHit, ChunkRecord, keywords

_NAMESPACE = uuid.UUID("3f1c9a52-6a55-4b8e-9d36-8b3f0e0f6a11")
_SPARSE = "keywords"
_DENSE = "dense"


def _point_id(chunk_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, chunk_id))


def _term_id(term: str) -> int:
    return zlib.crc32(term.encode()) & 0x7FFFFFFF


def sparse_terms(text: str) -> tuple[list[int], list[float]]:
    counts = Counter(_term_id(w) for w in keywords(text, limit=100_000) if w not in STOPWORDS)
    k1 = 1.2  # BM25's term-frequency saturation; Qdrant multiplies by the idf
    ids = sorted(counts)
    return ids, [counts[i] * (k1 + 1) / (counts[i] + k1) for i in ids]


class QdrantStore:
    kind = "qdrant"

    def __init__(self, *, url: str | None = None, client: Any = None, prefix: str = "bvrai_chunks") -> None:
        from qdrant_client import AsyncQdrantClient

        self.client = client or AsyncQdrantClient(url=url)
        self.prefix = prefix
        self._ready: set[int] = set()

    def _name(self, dims: int) -> str:
        return f"{self.prefix}_{int(dims)}"

    async def _ensure(self, dims: int) -> str:
        from qdrant_client import models

        name = self._name(dims)
        if dims in self._ready:
            return name
        if not await self.client.collection_exists(name):
            await self.client.create_collection(
                name,
                vectors_config={_DENSE: models.VectorParams(size=int(dims), distance=models.Distance.COSINE)},
                sparse_vectors_config={_SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
            for field in ("org_id", "kb_id", "doc_id"):
                await self.client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)
        self._ready.add(dims)
        return name

    async def _collections(self) -> list[str]:
        listed = await self.client.get_collections()
        return [c.name for c in listed.collections if c.name.startswith(self.prefix + "_")]

    @staticmethod
    def _filter(org_id: str, *, kb_ids: Sequence[str] = (), doc_id: str | None = None, min_ord: int = 0) -> Any:
        from qdrant_client import models

        must: list[Any] = [models.FieldCondition(key="org_id", match=models.MatchValue(value=org_id))]
        if kb_ids:
            must.append(models.FieldCondition(key="kb_id", match=models.MatchAny(any=list(kb_ids))))
        if doc_id is not None:
            must.append(models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id)))
        if min_ord:
            must.append(models.FieldCondition(key="ord", range=models.Range(gte=min_ord)))
        return models.Filter(must=must)

    async def upsert(self, chunks: Sequence[ChunkRecord], *, dimensions: int) -> None:
        from qdrant_client import models

        if not chunks:
            return
        name = await self._ensure(dimensions)
        points = []
        for c in chunks:
            ids, values = sparse_terms(c.text)
            points.append(
                models.PointStruct(
                    id=_point_id(c.chunk_id),
                    vector={_DENSE: list(c.vector), _SPARSE: models.SparseVector(indices=ids, values=values)},
                    payload={
                        "chunk_id": c.chunk_id,
                        "org_id": c.org_id,
                        "kb_id": c.kb_id,
                        "doc_id": c.doc_id,
                        "ord": c.ord,
                        "text": c.text,
                    },
                )
            )
        await self.client.upsert(name, points=points, wait=True)

    async def _scroll(self, org_id: str, doc_id: str) -> list[Any]:
        out: list[Any] = []
        for name in await self._collections():
            offset = None
            while True:
                points, offset = await self.client.scroll(
                    name, scroll_filter=self._filter(org_id, doc_id=doc_id), limit=1000, offset=offset
                )
                out.extend(points)
                if offset is None:
                    break
        return out

    async def chunk_ids(self, *, org_id: str, doc_id: str) -> set[str]:
        return {str(p.payload["chunk_id"]) for p in await self._scroll(org_id, doc_id)}

    async def count(self, *, org_id: str, doc_id: str) -> int:
        total = 0
        for name in await self._collections():
            result = await self.client.count(name, count_filter=self._filter(org_id, doc_id=doc_id), exact=True)
            total += result.count
        return total

    async def delete_document(self, *, org_id: str, doc_id: str, keep_below: int = 0, dimensions: int) -> None:
        from qdrant_client import models

        name = await self._ensure(dimensions)
        selector = models.FilterSelector(filter=self._filter(org_id, doc_id=doc_id, min_ord=keep_below))
        await self.client.delete(name, points_selector=selector, wait=True)

    async def delete_knowledge_base(self, *, org_id: str, kb_id: str, dimensions: int) -> None:
        from qdrant_client import models

        name = await self._ensure(dimensions)
        selector = models.FilterSelector(filter=self._filter(org_id, kb_ids=[kb_id]))
        await self.client.delete(name, points_selector=selector, wait=True)

    @staticmethod
    def _hits(points: Sequence[Any]) -> list[ChunkHit]:
        return [
            ChunkHit(
                str(p.payload["chunk_id"]),
                str(p.payload["kb_id"]),
                str(p.payload["doc_id"]),
                int(p.payload["ord"]),
                str(p.payload["text"]),
                float(p.score),
            )
            for p in points
        ]

    async def vector_search(
        self, *, org_id: str, kb_ids: Sequence[str], vector: Sequence[float], k: int, dimensions: int
    ) -> list[ChunkHit]:
        if not kb_ids or k <= 0:
            return []
        name = await self._ensure(dimensions)
        result = await self.client.query_points(
            name,
            query=list(vector),
            using=_DENSE,
            query_filter=self._filter(org_id, kb_ids=kb_ids),
            limit=k,
            with_payload=True,
        )
        return self._hits(result.points)

    async def keyword_search(self, *, org_id: str, kb_ids: Sequence[str], query: str, k: int) -> list[ChunkHit]:
        from qdrant_client import models

        ids = sorted({_term_id(w) for w in keywords(query)})
        if not kb_ids or not ids or k <= 0:
            return []
        hits: list[ChunkHit] = []
        for name in await self._collections():
            result = await self.client.query_points(
                name,
                query=models.SparseVector(indices=ids, values=[1.0] * len(ids)),
                using=_SPARSE,
                query_filter=self._filter(org_id, kb_ids=kb_ids),
                limit=k,
                with_payload=True,
            )
            hits.extend(self._hits(result.points))
        return sorted(hits, key=lambda h: -h.score)[:k]

    async def close(self) -> None:
        await self.client.close()
