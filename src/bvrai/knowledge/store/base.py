"""The small interface every vector store implements, and the choice between them.

Every method takes the ``org_id`` and confines itself to it *inside the store* (a filter in the
query, not a check afterwards), on top of the knowledge-base ids the caller already checked against
the database. A chunk's id is deterministic (document id + position), so writing a document's chunks
twice replaces them instead of adding duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    chunk_id: str
    org_id: str
    kb_id: str
    doc_id: str
    ord: int
    text: str
    vector: Sequence[float]


@dataclass(frozen=True, slots=True)
class ChunkHit:
    chunk_id: str
    kb_id: str
    doc_id: str
    ord: int
    text: str
    score: float  # cosine similarity for vector hits; a positive keyword score (higher is better) for keyword hits


class VectorStore(Protocol):
    kind: str

    async def upsert(self, chunks: Sequence[ChunkRecord], *, dimensions: int) -> None: ...

    async def chunk_ids(self, *, org_id: str, doc_id: str) -> set[str]: ...

    async def delete_document(self, *, org_id: str, doc_id: str, keep_below: int = 0, dimensions: int) -> None:
        """Remove the document's chunks whose position is ``keep_below`` or more (all of them by default)."""
        ...

    async def delete_knowledge_base(self, *, org_id: str, kb_id: str, dimensions: int) -> None: ...

    async def count(self, *, org_id: str, doc_id: str) -> int: ...

    async def vector_search(
        self, *, org_id: str, kb_ids: Sequence[str], vector: Sequence[float], k: int, dimensions: int
    ) -> list[ChunkHit]: ...

    async def keyword_search(self, *, org_id: str, kb_ids: Sequence[str], query: str, k: int) -> list[ChunkHit]: ...

    async def close(self) -> None: ...


_WORD = re.compile(r"\w+", re.UNICODE)
# Words too common to say anything about a passage; BM25's idf would mostly ignore them anyway, but
# leaving them out keeps an OR query from matching half the store.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


def keywords(query: str, *, limit: int = 32) -> list[str]:
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if w not in STOPWORDS] or words
    return list(dict.fromkeys(kept))[:limit]


def open_store(url: str | None, *, data_dir: Path) -> VectorStore:
    """``None`` or ``sqlite:///path`` → the embedded store; ``http(s)://host:6333`` → a Qdrant server."""
    if url and url.startswith(("http://", "https://")):
        from bvrai.knowledge.store.qdrant import QdrantStore

        return QdrantStore(url=url)
    from bvrai.knowledge.store.sqlite_vec import SqliteVecStore

    path = Path(url.removeprefix("sqlite:///")) if url else data_dir / "vectors.sqlite3"
    return SqliteVecStore(path)
