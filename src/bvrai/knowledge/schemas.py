"""Request and response shapes of /v1/knowledge-bases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

from bvrai.knowledge.models import KnowledgeBase, KnowledgeDocument

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class EmbeddingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["local", "openai"] = Field(default="local", description="local: MiniLM in process")
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="Default: all-MiniLM-L6-v2 (local), text-embedding-3-small (openai)"
    )
    dimensions: int | None = Field(default=None, ge=8, le=4096, description="Default: the model's own size")


class EmbeddingOut(BaseModel):
    provider: str
    model: str
    dimensions: int


class KnowledgeBaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    embedding: EmbeddingConfig = Field(
        default_factory=EmbeddingConfig, description="Fixed for the knowledge base's life: vectors never mix models"
    )
    chunk_tokens: int = Field(default=200, ge=50, le=512, description="Token budget of a passage")
    chunk_overlap: int = Field(default=30, ge=0, le=100, description="Tokens consecutive passages share")

    @model_validator(mode="after")
    def _overlap(self) -> KnowledgeBaseIn:
        if self.chunk_overlap * 2 > self.chunk_tokens:
            raise ValueError("chunk_overlap must be at most half of chunk_tokens")
        return self


class KnowledgeBasePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None


class KnowledgeBaseOut(BaseModel):
    id: str
    name: str
    description: str | None
    embedding: EmbeddingOut
    chunk_tokens: int
    chunk_overlap: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, kb: KnowledgeBase) -> KnowledgeBaseOut:
        return cls(
            id=kb.id,
            name=kb.name,
            description=kb.description,
            embedding=EmbeddingOut(
                provider=kb.embedding_provider, model=kb.embedding_model, dimensions=kb.embedding_dimensions
            ),
            chunk_tokens=kb.chunk_tokens,
            chunk_overlap=kb.chunk_overlap,
            created_at=kb.created_at,
            updated_at=kb.updated_at,
        )


class DocumentUrlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="Fetched once, through the SSRF guard (no private or loopback targets)")
    name: Name | None = None


class Progress(BaseModel):
    chunks_done: int
    chunks_total: int


class DocumentOut(BaseModel):
    id: str
    knowledge_base_id: str
    name: str
    source: Literal["upload", "url"]
    url: str | None
    content_type: str | None = Field(description="pdf, docx, html, markdown, csv or text: sniffed from the content")
    size_bytes: int
    status: Literal["queued", "processing", "ready", "failed"]
    error: str | None = Field(description="Why ingestion failed (or why it is being retried)")
    progress: Progress
    chunk_count: int
    attempts: int
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None

    @classmethod
    def of(cls, doc: KnowledgeDocument) -> DocumentOut:
        return cls(
            id=doc.id,
            knowledge_base_id=doc.knowledge_base_id,
            name=doc.name,
            source=doc.source,
            url=doc.url,
            content_type=doc.content_type,
            size_bytes=doc.size_bytes,
            status=doc.status,
            error=doc.error,
            progress=Progress(chunks_done=doc.chunks_done, chunks_total=doc.chunks_total),
            chunk_count=doc.chunk_count,
            attempts=doc.attempts,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            ready_at=doc.ready_at,
        )


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    top_k: int = Field(default=5, ge=1, le=50)
    mode: Literal["hybrid", "vector", "keyword"] = "hybrid"


class SearchHit(BaseModel):
    document_id: str
    knowledge_base_id: str
    chunk_id: str
    position: int = Field(description="The passage's position in its document")
    text: str
    score: float = Field(description="Fused RRF score (hybrid), cosine similarity (vector) or BM25 (keyword)")
    vector_rank: int | None
    keyword_rank: int | None


class SearchOut(BaseModel):
    data: list[SearchHit]
    embed_ms: float = Field(description="Time spent embedding the query")
    search_ms: float = Field(description="Time spent in the vector store")
