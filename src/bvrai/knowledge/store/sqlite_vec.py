"""The embedded store: one SQLite file (``<data_dir>/vectors.sqlite3``), separate from the main database.

- ``chunks``: every chunk's text and owner (org, knowledge base, document, position); ``chunk_id`` unique.
- ``chunks_fts``: an FTS5 index over ``chunks.text`` (external content, kept in step by triggers),
  ranked with BM25, for keyword search.
- ``vec_<dims>``: a sqlite-vec ``vec0`` table per vector size, ``kb_id`` its partition key and
  ``org_id`` a metadata column. A KNN query names both, so sqlite-vec scans only the partitions of
  the knowledge bases asked for and only rows of the caller's org: the filter is inside the search,
  and the search is exact (no approximate index).

Python's ``sqlite3`` may be built without extension loading; ``pysqlite3`` (``pysqlite3-binary``) is
used then. The file is opened by every process (api, worker) that needs it; WAL mode and a busy
timeout let them share it. Calls run in worker threads, one connection per thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bvrai.knowledge.store.base import ChunkHit, ChunkRecord, keywords

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL,
    kb_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    ord INTEGER NOT NULL,
    dims INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_chunks_doc ON chunks (org_id, doc_id, ord);
CREATE INDEX IF NOT EXISTS ix_chunks_kb ON chunks (org_id, kb_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='rowid', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
"""


def _connect_module() -> Any:
    """The sqlite3 module to use: the standard one if it can load extensions, else pysqlite3."""
    probe = sqlite3.connect(":memory:")
    try:
        if hasattr(probe, "enable_load_extension"):
            return sqlite3
    finally:
        probe.close()
    import pysqlite3.dbapi2 as pysqlite3

    return pysqlite3


def _blob(vector: Sequence[float]) -> bytes:
    import sqlite_vec

    return bytes(sqlite_vec.serialize_float32(list(vector)))


class SqliteVecStore:
    kind = "sqlite-vec"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._module = _connect_module()
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._vec_tables: set[int] = set()

    # --- connections -----------------------------------------------------------------------------------------

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            import sqlite_vec

            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._module.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
            conn.enable_load_extension(True)
            sqlite_vec.load(conn)
            conn.enable_load_extension(False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            with self._lock:
                conn.executescript(_SCHEMA)
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    def _ensure_vec(self, conn: Any, dims: int) -> str:
        table = f"vec_{int(dims)}"
        if dims not in self._vec_tables:
            conn.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING vec0("
                f"kb_id TEXT PARTITION KEY, org_id TEXT, embedding FLOAT[{int(dims)}] distance_metric=cosine)"
            )
            self._vec_tables.add(dims)
        return table

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def _write(self, fn: Callable[[Any], T]) -> T:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # --- writing ---------------------------------------------------------------------------------------------

    def upsert_sync(self, chunks: Sequence[ChunkRecord], dimensions: int) -> None:
        def work(conn: Any) -> None:
            table = self._ensure_vec(conn, dimensions)
            for c in chunks:
                old = conn.execute("SELECT rowid FROM chunks WHERE chunk_id = ?", (c.chunk_id,)).fetchone()
                if old is not None:
                    conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (old[0],))  # noqa: S608 (table from an int)
                    conn.execute("DELETE FROM chunks WHERE rowid = ?", (old[0],))
                cur = conn.execute(
                    "INSERT INTO chunks (chunk_id, org_id, kb_id, doc_id, ord, dims, text) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (c.chunk_id, c.org_id, c.kb_id, c.doc_id, c.ord, dimensions, c.text),
                )
                conn.execute(
                    f"INSERT INTO {table} (rowid, kb_id, org_id, embedding) VALUES (?, ?, ?, ?)",  # noqa: S608
                    (cur.lastrowid, c.kb_id, c.org_id, _blob(c.vector)),
                )

        self._write(work)

    async def upsert(self, chunks: Sequence[ChunkRecord], *, dimensions: int) -> None:
        if chunks:
            await self._run(self.upsert_sync, chunks, dimensions)

    def _delete_where(self, where: str, params: tuple[Any, ...], dimensions: int) -> None:
        def work(conn: Any) -> None:
            table = self._ensure_vec(conn, dimensions)
            rows = [r[0] for r in conn.execute(f"SELECT rowid FROM chunks WHERE {where}", params)]  # noqa: S608
            for start in range(0, len(rows), 500):
                batch = rows[start : start + 500]
                marks = ",".join("?" * len(batch))
                conn.execute(f"DELETE FROM {table} WHERE rowid IN ({marks})", batch)  # noqa: S608
                conn.execute(f"DELETE FROM chunks WHERE rowid IN ({marks})", batch)  # noqa: S608

        self._write(work)

    async def delete_document(self, *, org_id: str, doc_id: str, keep_below: int = 0, dimensions: int) -> None:
        await self._run(
            self._delete_where, "org_id = ? AND doc_id = ? AND ord >= ?", (org_id, doc_id, keep_below), dimensions
        )

    async def delete_knowledge_base(self, *, org_id: str, kb_id: str, dimensions: int) -> None:
        await self._run(self._delete_where, "org_id = ? AND kb_id = ?", (org_id, kb_id), dimensions)

    # --- reading ---------------------------------------------------------------------------------------------

    def chunk_ids_sync(self, org_id: str, doc_id: str) -> set[str]:
        rows = self._conn().execute("SELECT chunk_id FROM chunks WHERE org_id = ? AND doc_id = ?", (org_id, doc_id))
        return {r[0] for r in rows}

    async def chunk_ids(self, *, org_id: str, doc_id: str) -> set[str]:
        return await self._run(self.chunk_ids_sync, org_id, doc_id)

    def count_sync(self, org_id: str, doc_id: str) -> int:
        row = self._conn().execute("SELECT count(*) FROM chunks WHERE org_id = ? AND doc_id = ?", (org_id, doc_id))
        return int(row.fetchone()[0])

    async def count(self, *, org_id: str, doc_id: str) -> int:
        return await self._run(self.count_sync, org_id, doc_id)

    def vector_search_sync(
        self, org_id: str, kb_ids: Sequence[str], vector: Sequence[float], k: int, dimensions: int
    ) -> list[ChunkHit]:
        if not kb_ids or k <= 0:
            return []
        conn = self._conn()
        table = self._ensure_vec(conn, dimensions)
        marks = ",".join("?" * len(kb_ids))
        # The KNN runs alone, then the texts are fetched by rowid: joined in one statement, SQLite may
        # drive the join from the chunks table and run the KNN once per chunk.
        nearest = conn.execute(
            f"SELECT rowid, distance FROM {table} WHERE embedding MATCH ? AND k = ? "  # noqa: S608
            f"AND kb_id IN ({marks}) AND org_id = ?",
            (_blob(vector), k, *kb_ids, org_id),
        ).fetchall()
        if not nearest:
            return []
        distance = {int(r[0]): float(r[1]) for r in nearest}
        found = ",".join("?" * len(distance))
        rows = conn.execute(
            f"SELECT rowid, chunk_id, kb_id, doc_id, ord, text FROM chunks WHERE rowid IN ({found}) AND org_id = ?",  # noqa: S608
            (*distance, org_id),
        ).fetchall()
        hits = [ChunkHit(r[1], r[2], r[3], r[4], r[5], 1.0 - distance[int(r[0])]) for r in rows]
        return sorted(hits, key=lambda h: -h.score)

    async def vector_search(
        self, *, org_id: str, kb_ids: Sequence[str], vector: Sequence[float], k: int, dimensions: int
    ) -> list[ChunkHit]:
        return await self._run(self.vector_search_sync, org_id, list(kb_ids), vector, k, dimensions)

    def keyword_search_sync(self, org_id: str, kb_ids: Sequence[str], query: str, k: int) -> list[ChunkHit]:
        terms = keywords(query)
        if not kb_ids or not terms or k <= 0:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        marks = ",".join("?" * len(kb_ids))
        rows = (
            self._conn()
            .execute(
                # The full-text match runs first, on its own (MATERIALIZED); a plain join may let SQLite
                # drive it from the chunks table and evaluate the MATCH once per chunk.
                "WITH m AS MATERIALIZED (SELECT rowid, bm25(chunks_fts) AS rank FROM chunks_fts "  # noqa: S608
                "WHERE chunks_fts MATCH ?) "
                "SELECT m.rank, c.chunk_id, c.kb_id, c.doc_id, c.ord, c.text FROM m "
                f"JOIN chunks c ON c.rowid = m.rowid WHERE c.org_id = ? AND c.kb_id IN ({marks}) "
                "ORDER BY m.rank LIMIT ?",
                (match, org_id, *kb_ids, k),
            )
            .fetchall()
        )
        # FTS5's bm25() is lower-is-better and negative; flip it so every score is higher-is-better.
        return [ChunkHit(r[1], r[2], r[3], r[4], r[5], -float(r[0])) for r in rows]

    async def keyword_search(self, *, org_id: str, kb_ids: Sequence[str], query: str, k: int) -> list[ChunkHit]:
        return await self._run(self.keyword_search_sync, org_id, list(kb_ids), query, k)

    async def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(Exception):  # a connection of a finished thread: nothing to save
                    conn.close()
            self._connections.clear()
