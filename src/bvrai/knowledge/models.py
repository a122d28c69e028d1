from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bvrai.kit.db import Base, IdMixin, SoftDeleteMixin, TimestampMixin


class KnowledgeBase(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A set of documents searched together; it keeps the embedding model it was built with for good."""

    __tablename__ = "knowledge_bases"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    embedding_provider: Mapped[str] = mapped_column(String(40))
    embedding_model: Mapped[str] = mapped_column(String(200))
    embedding_dimensions: Mapped[int] = mapped_column(Integer)
    chunk_tokens: Mapped[int] = mapped_column(Integer)
    chunk_overlap: Mapped[int] = mapped_column(Integer)


class KnowledgeDocument(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """One uploaded file or fetched page. The row is the source of truth of its ingestion:
    ``status`` queued → processing → ready | failed (with ``error``); ``lease_expires_at`` marks a
    worker's claim, so work whose worker died is picked up again once the lease runs out."""

    __tablename__ = "knowledge_documents"
    __table_args__ = (Index("ix_knowledge_documents_status_lease", "status", "lease_expires_at"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    knowledge_base_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(10))  # upload | url
    url: Mapped[str | None] = mapped_column(String(2000), default=None)
    content_type: Mapped[str | None] = mapped_column(String(20), default=None)  # pdf | docx | html | ...
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    storage_key: Mapped[str | None] = mapped_column(String(300), default=None)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)
