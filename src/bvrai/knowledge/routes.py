"""/v1/knowledge-bases: knowledge bases, their documents (upload or URL), re-ingest, search."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import ValidationError

from bvrai.identity.auth import require
from bvrai.identity.principal import Principal
from bvrai.kit.context import Ctx, Session
from bvrai.kit.errors import BadRequest, UnsupportedMediaType, ValidationFailed, problem_responses
from bvrai.kit.pagination import Page, PageParams, page_params
from bvrai.knowledge import retrieval, service
from bvrai.knowledge.schemas import (
    DocumentOut,
    DocumentUrlIn,
    KnowledgeBaseIn,
    KnowledgeBaseOut,
    KnowledgeBasePatch,
    SearchHit,
    SearchIn,
    SearchOut,
)
from bvrai.knowledge.upload import add_uploaded_document

router = APIRouter(prefix="/v1/knowledge-bases", tags=["knowledge bases"])

Reader = Annotated[Principal, Depends(require("knowledge_bases:read"))]
Writer = Annotated[Principal, Depends(require("knowledge_bases:write"))]
Pages = Annotated[PageParams, Depends(page_params)]
KbId = Annotated[str, Path(max_length=64)]
DocId = Annotated[str, Path(max_length=64)]
READ = problem_responses(401, 403, 404, 422, 429)
WRITE = problem_responses(401, 403, 404, 409, 422, 429)

UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2083},
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                },
                "required": ["url"],
                "additionalProperties": False,
            }
        },
    },
}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:  # not JSON, or not UTF-8
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


@router.post("", response_model=KnowledgeBaseOut, status_code=201, responses=problem_responses(401, 403, 422, 429))
async def create_knowledge_base(data: KnowledgeBaseIn, principal: Writer, session: Session) -> KnowledgeBaseOut:
    """Create a knowledge base; its embedding model is fixed from now on."""
    return KnowledgeBaseOut.of(await service.create_knowledge_base(session, principal=principal, data=data))


@router.get("", response_model=Page[KnowledgeBaseOut], responses=problem_responses(400, 401, 403, 422, 429))
async def list_knowledge_bases(principal: Reader, session: Session, pages: Pages) -> Page[KnowledgeBaseOut]:
    rows, cursor = await service.list_knowledge_bases(session, principal=principal, params=pages)
    return Page(data=[KnowledgeBaseOut.of(r) for r in rows], next_cursor=cursor)


@router.get("/{kb_id}", response_model=KnowledgeBaseOut, responses=READ)
async def get_knowledge_base(kb_id: KbId, principal: Reader, session: Session) -> KnowledgeBaseOut:
    return KnowledgeBaseOut.of(await service.get_knowledge_base(session, principal=principal, kb_id=kb_id))


@router.patch("/{kb_id}", response_model=KnowledgeBaseOut, responses=WRITE)
async def update_knowledge_base(
    kb_id: KbId, patch: KnowledgeBasePatch, principal: Writer, session: Session
) -> KnowledgeBaseOut:
    """Rename or describe; the embedding model cannot change (create a new knowledge base instead)."""
    kb = await service.update_knowledge_base(session, principal=principal, kb_id=kb_id, patch=patch)
    return KnowledgeBaseOut.of(kb)


@router.delete("/{kb_id}", status_code=204, responses=WRITE)
async def delete_knowledge_base(kb_id: KbId, principal: Writer, session: Session, ctx: Ctx) -> Response:
    """Delete the knowledge base, its documents, files and vectors."""
    await service.delete_knowledge_base(session, ctx=ctx, principal=principal, kb_id=kb_id)
    return Response(status_code=204)


@router.post(
    "/{kb_id}/documents",
    response_model=DocumentOut,
    status_code=202,
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 429),
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def add_document(kb_id: KbId, request: Request, principal: Writer, session: Session, ctx: Ctx) -> DocumentOut:
    """Add a document: a file (multipart field ``file``: PDF, DOCX, HTML, Markdown, CSV or text; the type
    is read from the content) or ``{"url": ...}`` (fetched now through the SSRF guard). It is queued
    for ingestion; poll the document for ``status`` and ``progress``."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/json":
        try:
            data = DocumentUrlIn.model_validate(_json(await request.body()))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationFailed(f"{where}: {first['msg']}" if where else first["msg"]) from None
        doc = await service.add_url(session, ctx=ctx, principal=principal, kb_id=kb_id, data=data)
    elif content_type == "multipart/form-data":
        await service.get_knowledge_base(session, principal=principal, kb_id=kb_id)
        doc = await add_uploaded_document(request, session, ctx=ctx, principal=principal, kb_id=kb_id)
    else:
        raise UnsupportedMediaType("send multipart/form-data with a 'file' part, or JSON with a 'url'")
    return DocumentOut.of(doc)


@router.get("/{kb_id}/documents", response_model=Page[DocumentOut], responses=READ)
async def list_documents(kb_id: KbId, principal: Reader, session: Session, pages: Pages) -> Page[DocumentOut]:
    rows, cursor = await service.list_documents(session, principal=principal, kb_id=kb_id, params=pages)
    return Page(data=[DocumentOut.of(r) for r in rows], next_cursor=cursor)


@router.get("/{kb_id}/documents/{document_id}", response_model=DocumentOut, responses=READ)
async def get_document(kb_id: KbId, document_id: DocId, principal: Reader, session: Session) -> DocumentOut:
    """A document with its ingestion status, progress and, when it failed, the reason."""
    doc = await service.get_document(session, principal=principal, kb_id=kb_id, doc_id=document_id)
    return DocumentOut.of(doc)


@router.delete("/{kb_id}/documents/{document_id}", status_code=204, responses=WRITE)
async def delete_document(kb_id: KbId, document_id: DocId, principal: Writer, session: Session, ctx: Ctx) -> Response:
    """Delete a document, its file and its vectors."""
    await service.delete_document(session, ctx=ctx, principal=principal, kb_id=kb_id, doc_id=document_id)
    return Response(status_code=204)


@router.post("/{kb_id}/documents/{document_id}/reingest", response_model=DocumentOut, status_code=202, responses=WRITE)
async def reingest_document(kb_id: KbId, document_id: DocId, principal: Writer, session: Session) -> DocumentOut:
    """Queue the document for ingestion again (after a failure, or to apply new chunking)."""
    doc = await service.reingest_document(session, principal=principal, kb_id=kb_id, doc_id=document_id)
    return DocumentOut.of(doc)


@router.post("/{kb_id}/search", response_model=SearchOut, responses=problem_responses(401, 403, 404, 422, 429, 503))
async def search(kb_id: KbId, data: SearchIn, principal: Reader, session: Session, ctx: Ctx) -> SearchOut:
    """Search the knowledge base as an agent would: hybrid (vector + keyword, fused) by default."""
    timings = retrieval.Timings()
    results = await service.search(
        session,
        ctx=ctx,
        principal=principal,
        kb_id=kb_id,
        query=data.query,
        top_k=data.top_k,
        mode=data.mode,
        timings=timings,
    )
    hits = [
        SearchHit(
            document_id=r.document_id,
            knowledge_base_id=r.knowledge_base_id,
            chunk_id=r.chunk_id,
            position=r.position,
            text=r.text,
            score=r.score,
            vector_rank=r.vector_rank,
            keyword_rank=r.keyword_rank,
        )
        for r in results
    ]
    return SearchOut(data=hits, embed_ms=round(timings.embed_ms, 2), search_ms=round(timings.search_ms, 2))
