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


async def test_a_file_written_by_the_first_version_is_upgraded_in_place_and_keeps_its_chunks(tmp_path: Path):
    """Version 0 kept float vectors in ``vec_<dims>`` and indexed the text alone: an existing
    deployment's knowledge must still be found after the upgrade, by vector and by keyword."""
    import sqlite_vec

    from bvrai.knowledge.store.sqlite_vec import _blob, _connect_module

    path = tmp_path / "vectors.sqlite3"
    conn = _connect_module().connect(str(path), isolation_level=None)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.executescript(
        """
        CREATE TABLE chunks (rowid INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE, org_id TEXT NOT NULL,
            kb_id TEXT NOT NULL, doc_id TEXT NOT NULL, ord INTEGER NOT NULL, dims INTEGER NOT NULL,
            text TEXT NOT NULL);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, content='chunks', content_rowid='rowid', tokenize='porter unicode61'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text) VALUES (new.rowid, new.text);
        END;
        CREATE VIRTUAL TABLE vec_8 USING vec0(
            kb_id TEXT PARTITION KEY, org_id TEXT, embedding FLOAT[8] distance_metric=cosine
        );
        """
    )
    for rowid, (text, v) in enumerate([("The manager is Marco Rossi.", vec(0)), ("Opening hours: 9 to 5.", vec(3))], 1):
        conn.execute(
            "INSERT INTO chunks VALUES (?, ?, 'org_a', 'kb_a', 'doc_1', ?, 8, ?)",
            (rowid, f"doc_1:{rowid:06d}", rowid, text),
        )
        conn.execute(
            "INSERT INTO vec_8 (rowid, kb_id, org_id, embedding) VALUES (?, 'kb_a', 'org_a', ?)", (rowid, _blob(v))
        )
    conn.close()

    store = SqliteVecStore(path)
    try:
        hits = await store.vector_search(org_id="org_a", kb_ids=["kb_a"], vector=vec(3), k=1, dimensions=DIMS)
        assert [h.text for h in hits] == ["Opening hours: 9 to 5."] and hits[0].score == pytest.approx(1.0, abs=1e-4)
        words = await store.keyword_search(org_id="org_a", kb_ids=["kb_a"], query="who is the manager", k=5)
        assert [h.text for h in words] == ["The manager is Marco Rossi."]
        await store.upsert([chunk("org_a", "kb_a", "doc_2", 0, "The manager's dog is Rex.", vec(1))], dimensions=DIMS)
        assert await store.count(org_id="org_a", doc_id="doc_1") == 2
        words = await store.keyword_search(org_id="org_a", kb_ids=["kb_a"], query="manager", k=5)
        assert len(words) == 2
    finally:
        await store.close()


async def test_a_keyword_search_finds_its_knowledge_bases_rows_even_when_others_rank_higher(store: VectorStore):
    """The embedded store matches the words alone when the knowledge bases searched hold most of the
    file; if the best rows are then all elsewhere, it must still return the ones asked for."""
    big = [chunk("org_a", "kb_big", "doc_b", i, f"Marco {'filler words ' * 30}{i}", vec(1)) for i in range(20)]
    loud = [chunk("org_a", "kb_loud", "doc_l", i, f"Marco Marco Marco {i}", vec(2)) for i in range(19)]
    await store.upsert(big + loud, dimensions=DIMS)
    hits = await store.keyword_search(org_id="org_a", kb_ids=["kb_big"], query="Marco", k=3)
    assert len(hits) == 3 and {h.kb_id for h in hits} == {"kb_big"}
    hits = await store.keyword_search(org_id="org_a", kb_ids=["kb_big", "kb_loud"], query="Marco", k=3)
    assert {h.kb_id for h in hits} == {"kb_loud"}
    assert await store.keyword_search(org_id="org_b", kb_ids=["kb_big"], query="Marco", k=3) == []
