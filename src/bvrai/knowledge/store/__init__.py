"""Where chunks and their vectors live: a SQLite file with sqlite-vec + FTS5 (embedded), or Qdrant."""

from bvrai.knowledge.store.base import ChunkHit, ChunkRecord, VectorStore, open_store

__all__ = ["ChunkHit", "ChunkRecord", "VectorStore", "open_store"]
