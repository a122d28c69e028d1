"""Keyword search in the embedded store's FTS5 index (``chunks_fts``: the chunk text and its
knowledge-base id), BM25-ranked on the text alone.

Two things make a search over a large file cheap, both because FTS5 computes BM25 for every row its
MATCH admits before it keeps the best ``k``, so the cost follows the number of rows admitted:

- *Common words are dropped.* A word found in more than ``COMMON_SHARE`` of all chunks (and in at
  least ``COMMON_MIN_ROWS`` of them) brings most of the admitted rows but little score: its inverse
  document frequency is low, so it rarely decides the order of the rows that also hold a rarer query
  word. Such words are dropped, as Lucene's ``cutoff_frequency`` did; when every word is that common,
  the rarest one is kept. In a file of fewer than ``COMMON_MIN_ROWS / COMMON_SHARE`` chunks nothing is
  dropped. ``bench/retrieval.py`` scores recall at 100k chunks with and without this.
- *The knowledge-base filter is applied where it is cheaper.* Naming the knowledge bases inside the
  MATCH makes FTS5 intersect the words' rows with theirs: cheap when they are a small part of the
  file, but when they hold most of it the intersection walks a posting list nearly as long as the
  file (it doubled the time at 100k chunks in one knowledge base). Then the words are matched alone
  for ``OVERFETCH`` times ``k`` rows, and rows of other knowledge bases are dropped; should that
  leave fewer than ``k`` while more rows matched, the search is run again with the filter inside.
  The org is checked on every row either way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bvrai.knowledge.store.base import ChunkHit, keywords

COMMON_SHARE = 0.05
COMMON_MIN_ROWS = 1000
OVERFETCH = 4
COUNT_TTL_S = 60.0


def quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class KeywordSearch:
    """Row counts are cached for ``COUNT_TTL_S``: they only choose the cheaper plan, never the result."""

    def __init__(self, *, drop_common_terms: bool = True) -> None:
        self.drop_common_terms = drop_common_terms
        self._counts: dict[tuple[str, ...], tuple[float, int]] = {}

    def _count(self, conn: Any, key: tuple[str, ...], sql: str, params: Sequence[Any]) -> int:
        cached = self._counts.get(key)
        if cached is not None and time.monotonic() - cached[0] < COUNT_TTL_S:
            return cached[1]
        if len(self._counts) > 4096:
            self._counts.clear()
        count = int(conn.execute(sql, params).fetchone()[0])
        self._counts[key] = (time.monotonic(), count)
        return count

    def _all_rows(self, conn: Any) -> int:
        return self._count(conn, ("*",), "SELECT count(*) FROM chunks", ())

    def _kb_rows(self, conn: Any, org_id: str, kb_ids: Sequence[str]) -> int:
        marks = ",".join("?" * len(kb_ids))
        sql = f"SELECT count(*) FROM chunks WHERE org_id = ? AND kb_id IN ({marks})"  # noqa: S608
        return self._count(conn, (org_id, *sorted(kb_ids)), sql, (org_id, *kb_ids))

    def _without_common_terms(self, conn: Any, terms: list[str]) -> list[str]:
        total = self._all_rows(conn)
        cutoff = max(COMMON_SHARE * total, COMMON_MIN_ROWS)
        if len(terms) < 2 or total <= cutoff:
            return terms
        rows_with = {
            t: int(
                conn.execute(
                    "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f"text : {quoted(t)}",)
                ).fetchone()[0]
            )
            for t in terms
        }
        rare = [t for t in terms if rows_with[t] <= cutoff]
        return rare or [min(terms, key=rows_with.__getitem__)]

    def search(self, conn: Any, *, org_id: str, kb_ids: Sequence[str], query: str, k: int) -> list[ChunkHit]:
        terms = keywords(query)
        if not kb_ids or not terms or k <= 0:
            return []
        if self.drop_common_terms:
            terms = self._without_common_terms(conn, terms)
        words = f"text : ({' OR '.join(quoted(t) for t in terms)})"
        if self._kb_rows(conn, org_id, kb_ids) * 2 >= self._all_rows(conn):
            matched, hits = _ranked(conn, words, limit=k * OVERFETCH, org_id=org_id, kb_ids=kb_ids)
            if len(hits) >= k or matched < k * OVERFETCH:
                return hits[:k]
        in_kbs = f"kb_id : ({' OR '.join(quoted(kb) for kb in kb_ids)})"
        return _ranked(conn, f"{in_kbs} AND {words}", limit=k, org_id=org_id, kb_ids=kb_ids)[1]


def _ranked(conn: Any, match: str, *, limit: int, org_id: str, kb_ids: Sequence[str]) -> tuple[int, list[ChunkHit]]:
    """(rows the MATCH gave, the best of them in the org's knowledge bases ``kb_ids``, best first)."""
    # ORDER BY rank LIMIT inside the FTS5 query lets it keep only the best rows while it ranks;
    # bm25(1.0, 0.0) weighs the text column alone (the kb_id column only filters).
    best = conn.execute(
        "SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? AND rank MATCH 'bm25(1.0, 0.0)' "
        "ORDER BY rank LIMIT ?",
        (match, limit),
    ).fetchall()
    if not best:
        return 0, []
    rank = {int(r[0]): float(r[1]) for r in best}
    found = ",".join("?" * len(rank))
    kbs = ",".join("?" * len(kb_ids))
    # ``+``: checked on each row found by rowid; as plain terms SQLite would rather drive the query from
    # the (org_id, kb_id) index and read every chunk of the org.
    rows = conn.execute(
        f"SELECT rowid, chunk_id, kb_id, doc_id, ord, text FROM chunks WHERE rowid IN ({found}) "  # noqa: S608
        f"AND +org_id = ? AND +kb_id IN ({kbs})",
        (*rank, org_id, *kb_ids),
    ).fetchall()
    # FTS5's bm25() is lower-is-better and negative; flip it so every score is higher-is-better.
    hits = [ChunkHit(r[1], r[2], r[3], r[4], r[5], -rank[int(r[0])]) for r in rows]
    return len(best), sorted(hits, key=lambda h: -h.score)
