"""Both vector stores keep the same contract: writes are idempotent per chunk id, deletes are exact,
and every search stays inside the org and the knowledge bases asked for.

The embedded store is the real sqlite-vec + FTS5 file. The Qdrant adapter runs against
qdrant-client's in-process engine: no Qdrant server can be installed on this machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from bvrai.knowledge.store import ChunkRecord, VectorStore
from bvrai.knowledge.store.qdrant import QdrantStore
from bvrai.knowledge.store.sqlite_vec import SqliteVecStore

DIMS = 8


def vec(*hot: int) -> list[float]:
    v = np.zeros(DIMS)
    for i in hot:
        v[i] = 1.0
    return list(v / np.linalg.norm(v))


@pytest.fixture(params=["sqlite-vec", "qdrant"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    if request.param == "sqlite-vec":
        s: VectorStore = SqliteVecStore(tmp_path / "vectors.sqlite3")
    else:
        from qdrant_client import AsyncQdrantClient

        s = QdrantStore(client=AsyncQdrantClient(location=":memory:"))
    yield s
    await s.close()


def chunk(org: str, kb: str, doc: str, ord: int, text: str, v: list[float]) -> ChunkRecord:
    return ChunkRecord(f"{doc}:{ord:06d}", org, kb, doc, ord, text, v)


async def test_search_never_leaves_the_org_or_the_knowledge_bases_asked_for(store: VectorStore):
    await store.upsert(
        [
            chunk("org_a", "kb_a1", "doc_1", 0, "The manager is Marco Rossi.", vec(0)),
            chunk("org_a", "kb_a2", "doc_2", 0, "Marco Rossi also runs the bakery.", vec(0, 1)),
            # Org b's chunk is in a knowledge base with the *same id*: the org filter alone must exclude it.
            chunk("org_b", "kb_a1", "doc_3", 0, "The manager is Marco Bianchi.", vec(0)),
        ],
        dimensions=DIMS,
    )
    hits = await store.vector_search(org_id="org_a", kb_ids=["kb_a1"], vector=vec(0), k=10, dimensions=DIMS)
    assert [h.doc_id for h in hits] == ["doc_1"] and hits[0].score == pytest.approx(1.0, abs=1e-4)
    hits = await store.vector_search(org_id="org_a", kb_ids=["kb_a1", "kb_a2"], vector=vec(0), k=10, dimensions=DIMS)
    assert [h.doc_id for h in hits] == ["doc_1", "doc_2"]
    words = await store.keyword_search(org_id="org_a", kb_ids=["kb_a1", "kb_a2"], query="who is the manager?", k=10)
    assert [h.doc_id for h in words] == ["doc_1"]
    words = await store.keyword_search(org_id="org_b", kb_ids=["kb_a1"], query="Marco", k=10)
    assert [h.doc_id for h in words] == ["doc_3"]
    assert await store.vector_search(org_id="org_c", kb_ids=["kb_a1"], vector=vec(0), k=10, dimensions=DIMS) == []


async def test_writing_a_chunk_again_replaces_it_and_deletes_are_exact(store: VectorStore):
    first = [chunk("org_a", "kb", "doc_1", i, f"passage number {i}", vec(i % DIMS)) for i in range(5)]
    await store.upsert(first, dimensions=DIMS)
    await store.upsert(first[:3], dimensions=DIMS)  # a resumed run writing the same batch again
    assert await store.count(org_id="org_a", doc_id="doc_1") == 5
    assert await store.chunk_ids(org_id="org_a", doc_id="doc_1") == {c.chunk_id for c in first}

    await store.delete_document(org_id="org_a", doc_id="doc_1", keep_below=3, dimensions=DIMS)
    assert await store.count(org_id="org_a", doc_id="doc_1") == 3
    hits = await store.keyword_search(org_id="org_a", kb_ids=["kb"], query="passage", k=10)
    assert sorted(h.ord for h in hits) == [0, 1, 2]

    await store.delete_document(org_id="org_b", doc_id="doc_1", dimensions=DIMS)  # another org: nothing
    assert await store.count(org_id="org_a", doc_id="doc_1") == 3
    await store.delete_knowledge_base(org_id="org_a", kb_id="kb", dimensions=DIMS)
    assert await store.count(org_id="org_a", doc_id="doc_1") == 0
    assert await store.vector_search(org_id="org_a", kb_ids=["kb"], vector=vec(0), k=5, dimensions=DIMS) == []
