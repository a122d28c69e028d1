"""Webhooks: endpoints (the secret shown once), enable/disable, delete, a test event, and each
endpoint's delivery log with a Redeliver button per delivery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from bvrai.identity.principal import Principal
from bvrai.kit.context import Ctx, Session
from bvrai.kit.errors import Problem
from bvrai.kit.pagination import PageParams
from bvrai.web.forms import FormErrors, problem_errors, read_form, read_multi, validate
from bvrai.web.rendering import render
from bvrai.web.session import CurrentUser, WebRoute
from bvrai.webhooks import service as webhooks
from bvrai.webhooks.models import WebhookEndpoint
from bvrai.webhooks.schemas import EVENT_TYPES, EndpointIn, EndpointPatch

router = APIRouter(route_class=WebRoute, include_in_schema=False)
ItemId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
FIELDS = {"url", "events", "description"}


async def _list_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    errors: FormErrors,
    values: dict[str, Any],
    created: tuple[WebhookEndpoint, str] | None = None,
    status_code: int = 200,
) -> Response:
    principal.ensure("webhooks:read")
    rows, _ = await webhooks.list_endpoints(session, principal=principal, params=PageParams(limit=100))
    context = {
        "endpoints": rows,
        "errors": errors,
        "values": values,
        "created": created,
        "event_types": EVENT_TYPES,
        "can_write": principal.can("webhooks:write"),
    }
    return await render(
        request,
        "webhooks/list.html",
        context,
        session=session,
        principal=principal,
        section="webhooks",
        status_code=status_code,
    )


@router.get("/app/webhooks")
async def webhook_list(request: Request, principal: CurrentUser, session: Session) -> Response:
    return await _list_page(request, session, principal, errors=FormErrors(), values={"events": []})


@router.post("/app/webhooks")
async def create_webhook(request: Request, ctx: Ctx, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("webhooks:write")
    form = await read_form(request)
    events = (await read_multi(request, "events"))[:20]
    values: dict[str, Any] = {
        "url": form.get("url", "").strip(),
        "description": form.get("description", "").strip(),
        "events": events,
    }
    data = {"url": values["url"], "events": events, "description": values["description"] or None}
    parsed, errors = validate(EndpointIn, data, FIELDS)
    created = None
    if parsed is not None:
        try:
            created = await webhooks.create_endpoint(session, ctx=ctx, principal=principal, data=parsed)
        except Problem as exc:
            errors = problem_errors(exc, FIELDS)
        else:
            values = {"events": []}
    status = 422 if errors else 201
    return await _list_page(
        request, session, principal, errors=errors, values=values, created=created, status_code=status
    )


async def _detail_page(
    request: Request, session: Session, principal: Principal, endpoint_id: str, *, notice: str | None = None
) -> Response:
    principal.ensure("webhooks:read")
    endpoint = await webhooks.get_endpoint(session, principal=principal, endpoint_id=endpoint_id)
    rows, _ = await webhooks.list_deliveries(
        session, principal=principal, endpoint_id=endpoint.id, params=PageParams(limit=50), status=None
    )
    attempts, types = await webhooks.attempts_and_types(session, deliveries=rows)
    deliveries = [
        {
            "id": d.id,
            "message_id": d.message_id,
            "event_type": types[d.message_id],
            "status": d.status,
            "attempts": attempts[d.id],
            "last": attempts[d.id][-1] if attempts[d.id] else None,
            "next_attempt_at": d.next_attempt_at,
            "created_at": d.created_at,
        }
        for d in rows
    ]
    context = {
        "endpoint": endpoint,
        "deliveries": deliveries,
        "busy": any(d["status"] == "pending" for d in deliveries),
        "notice": notice,
        "can_write": principal.can("webhooks:write"),
    }
    return await render(
        request, "webhooks/detail.html", context, session=session, principal=principal, section="webhooks"
    )


@router.get("/app/webhooks/{webhook_id}")
async def webhook_page(request: Request, webhook_id: ItemId, principal: CurrentUser, session: Session) -> Response:
    notice = {"redelivered": "Redelivery queued.", "tested": "Test event queued."}.get(
        request.query_params.get("done", "")
    )
    return await _detail_page(request, session, principal, webhook_id, notice=notice)


@router.post("/app/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request, webhook_id: ItemId, delivery_id: ItemId, principal: CurrentUser, session: Session
) -> Response:
    principal.ensure("webhooks:write")
    await webhooks.redeliver(session, principal=principal, endpoint_id=webhook_id, delivery_id=delivery_id)
    return RedirectResponse(f"/app/webhooks/{webhook_id}?done=redelivered", status_code=303)


@router.post("/app/webhooks/{webhook_id}/test")
async def send_test(request: Request, webhook_id: ItemId, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("webhooks:write")
    await webhooks.send_test(session, principal=principal, endpoint_id=webhook_id)
    return RedirectResponse(f"/app/webhooks/{webhook_id}?done=tested", status_code=303)


@router.post("/app/webhooks/{webhook_id}/enabled")
async def set_enabled(
    request: Request, webhook_id: ItemId, ctx: Ctx, principal: CurrentUser, session: Session
) -> Response:
    principal.ensure("webhooks:write")
    enabled = (await read_form(request)).get("enabled") == "true"
    await webhooks.update_endpoint(
        session, ctx=ctx, principal=principal, endpoint_id=webhook_id, data=EndpointPatch(enabled=enabled)
    )
    return RedirectResponse(f"/app/webhooks/{webhook_id}", status_code=303)


@router.post("/app/webhooks/{webhook_id}/delete")
async def delete_webhook(request: Request, webhook_id: ItemId, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("webhooks:write")
    await webhooks.delete_endpoint(session, principal=principal, endpoint_id=webhook_id)
    return RedirectResponse("/app/webhooks", status_code=303)
