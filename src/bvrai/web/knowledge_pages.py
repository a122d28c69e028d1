"""Knowledge bases: create them, upload documents (with upload and ingestion progress), add web pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from bvrai.kit.context import Ctx, Session
from bvrai.kit.errors import Problem
from bvrai.kit.pagination import PageParams
from bvrai.knowledge import service as knowledge
from bvrai.knowledge.schemas import DocumentOut, DocumentUrlIn, KnowledgeBaseIn, KnowledgeBaseOut
from bvrai.knowledge.upload import add_uploaded_document
from bvrai.web.forms import FormErrors, problem_errors, read_form, validate
from bvrai.web.rendering import fragment, render
from bvrai.web.session import CurrentUser, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
ItemId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
KB_FIELDS = {"name", "description", "chunk_tokens", "chunk_overlap"}


async def _kb_list(
    request: Request,
    session: Session,
    principal: CurrentUser,
    *,
    errors: FormErrors,
    values: dict[str, str],
    status_code: int = 200,
) -> Response:
    principal.ensure("knowledge_bases:read")
    rows, _ = await knowledge.list_knowledge_bases(session, principal=principal, params=PageParams(limit=100))
    context = {
        "kbs": [KnowledgeBaseOut.of(k) for k in rows],
        "errors": errors,
        "values": values,
        "can_write": principal.can("knowledge_bases:write"),
    }
    return await render(
        request,
        "knowledge/list.html",
        context,
        session=session,
        principal=principal,
        section="knowledge",
        status_code=status_code,
    )


@router.get("/app/knowledge")
async def kb_list(request: Request, principal: CurrentUser, session: Session) -> Response:
    return await _kb_list(request, session, principal, errors=FormErrors(), values={})


@router.post("/app/knowledge")
async def create_kb(request: Request, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("knowledge_bases:write")
    form = await read_form(request)
    values = {k: form.get(k, "") for k in KB_FIELDS}
    data = {k: v for k, v in values.items() if v.strip()}
    parsed, errors = validate(KnowledgeBaseIn, data, KB_FIELDS)
    if parsed is not None:
        try:
            kb = await knowledge.create_knowledge_base(session, principal=principal, data=parsed)
        except Problem as exc:
            errors = problem_errors(exc, KB_FIELDS)
        else:
            return RedirectResponse(f"/app/knowledge/{kb.id}", status_code=303)
    return await _kb_list(request, session, principal, errors=errors, values=values, status_code=422)


async def _documents(session: Session, principal: CurrentUser, kb_id: str) -> list[DocumentOut]:
    rows, _ = await knowledge.list_documents(session, principal=principal, kb_id=kb_id, params=PageParams(limit=100))
    return [DocumentOut.of(d) for d in rows]


@router.get("/app/knowledge/{kb_id}")
async def kb_page(request: Request, kb_id: ItemId, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("knowledge_bases:read")
    kb = await knowledge.get_knowledge_base(session, principal=principal, kb_id=kb_id)
    docs = await _documents(session, principal, kb.id)
    context = {
        "kb": KnowledgeBaseOut.of(kb),
        "docs": docs,
        "busy": any(d.status in ("queued", "processing") for d in docs),
        "can_write": principal.can("knowledge_bases:write"),
        "errors": FormErrors(),
        "max_mb": request.app.state.ctx.settings.knowledge_max_upload_bytes // (1024 * 1024),
    }
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "documents":
        return fragment(request, "knowledge/documents.html", context)
    return await render(
        request, "knowledge/detail.html", context, session=session, principal=principal, section="knowledge"
    )


@router.post("/app/knowledge/{kb_id}/documents")
async def upload(
    request: Request,
    kb_id: ItemId,
    ctx: Ctx,
    principal: CurrentUser,
    session: Session,
) -> Response:
    """A file from the page (streamed to storage under the size limit), queued for ingestion."""
    principal.ensure("knowledge_bases:write")
    kb = await knowledge.get_knowledge_base(session, principal=principal, kb_id=kb_id)
    doc = await add_uploaded_document(request, session, ctx=ctx, principal=principal, kb_id=kb.id)
    if request.headers.get("x-requested-with") == "fetch":
        return JSONResponse({"id": doc.id, "name": doc.name, "status": doc.status}, status_code=201)
    return RedirectResponse(f"/app/knowledge/{kb.id}", status_code=303)


@router.post("/app/knowledge/{kb_id}/urls")
async def add_url(
    request: Request,
    kb_id: ItemId,
    ctx: Ctx,
    principal: CurrentUser,
    session: Session,
) -> Response:
    principal.ensure("knowledge_bases:write")
    form = await read_form(request)
    data, errors = validate(DocumentUrlIn, {"url": form.get("url", "").strip()}, {"url"})
    if data is not None:
        try:
            await knowledge.add_url(session, ctx=ctx, principal=principal, kb_id=kb_id, data=data)
        except Problem as exc:
            errors = problem_errors(exc, {"url"})
        else:
            return RedirectResponse(f"/app/knowledge/{kb_id}", status_code=303)
    kb = await knowledge.get_knowledge_base(session, principal=principal, kb_id=kb_id)
    docs = await _documents(session, principal, kb.id)
    context = {
        "kb": KnowledgeBaseOut.of(kb),
        "docs": docs,
        "busy": False,
        "can_write": True,
        "errors": errors,
        "url_value": form.get("url", ""),
        "max_mb": ctx.settings.knowledge_max_upload_bytes // (1024 * 1024),
    }
    return await render(
        request,
        "knowledge/detail.html",
        context,
        session=session,
        principal=principal,
        section="knowledge",
        status_code=422,
    )


@router.post("/app/knowledge/{kb_id}/documents/{doc_id}/delete")
async def delete_document(
    request: Request, kb_id: ItemId, doc_id: ItemId, ctx: Ctx, principal: CurrentUser, session: Session
) -> Response:
    principal.ensure("knowledge_bases:write")
    await knowledge.delete_document(session, ctx=ctx, principal=principal, kb_id=kb_id, doc_id=doc_id)
    return RedirectResponse(f"/app/knowledge/{kb_id}", status_code=303)
