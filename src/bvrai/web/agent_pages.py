"""Agents: the list, the editor (every spec field, grouped), publishing, versions, diffs, rollback,
and talking to an agent from the browser."""

from __future__ import annotations

import difflib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from bvrai.agents import service as agents
from bvrai.agents.models import Agent
from bvrai.agents.schemas import AgentOut
from bvrai.agents.spec import AgentSpec, spec_digest
from bvrai.calls import service as calls
from bvrai.identity.principal import Principal
from bvrai.kit.context import Ctx, Session
from bvrai.kit.errors import BadRequest, Problem
from bvrai.kit.pagination import PageParams
from bvrai.web.agent_form import (
    KNOWN_FIELDS,
    TOOL_EXAMPLE,
    default_spec,
    provider_choices,
    spec_to_values,
    values_to_spec,
)
from bvrai.web.forms import FormErrors, errors_from_validation, problem_errors, read_form
from bvrai.web.rendering import fragment, render
from bvrai.web.session import CurrentUser, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
AgentId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PAGE_SIZE = 50


@router.get("/app/agents")
async def agent_list(request: Request, principal: CurrentUser, session: Session, cursor: str | None = None) -> Response:
    principal.ensure("agents:read")
    params = PageParams(limit=PAGE_SIZE, cursor=cursor[:200] if cursor else None)
    rows, next_cursor = await agents.list_agents(session, principal=principal, params=params)
    items = [AgentOut.of(a) for a in rows]
    context = {"agents": items, "next_cursor": next_cursor, "can_write": principal.can("agents:write")}
    return await render(request, "agents/list.html", context, session=session, principal=principal, section="agents")


async def _editor(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    agent: Agent | None,
    values: dict[str, Any],
    errors: FormErrors,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "agent": AgentOut.of(agent) if agent else None,
        "values": values,
        "errors": errors,
        "providers": provider_choices(),
        "tool_example": TOOL_EXAMPLE,
        "can_write": principal.can("agents:write"),
        "notice": notice,
    }
    return await render(
        request,
        "agents/editor.html",
        context,
        session=session,
        principal=principal,
        section="agents",
        status_code=status_code,
    )


@router.get("/app/agents/new")
async def new_agent_page(request: Request, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("agents:write")
    values = spec_to_values(default_spec())
    return await _editor(request, session, principal, agent=None, values=values, errors=FormErrors())


def _parse(form: dict[str, str]) -> tuple[AgentSpec | None, dict[str, Any], FormErrors]:
    """Unreadable JSON fields are left out (their defaults apply) so every other field is still checked."""
    document, values, errors = values_to_spec(form)
    try:
        spec = AgentSpec.model_validate(document)
    except ValidationError as exc:
        for field, message in errors_from_validation(exc, KNOWN_FIELDS).items():
            errors.add(field, message)
        return None, values, errors
    return (None if errors else spec), values, errors


@router.post("/app/agents/new")
async def create_agent(request: Request, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("agents:write")
    spec, values, errors = _parse(await read_form(request))
    if spec is not None:
        try:
            agent = await agents.create_agent(session, principal=principal, spec=spec)
        except Problem as exc:
            errors = problem_errors(exc, KNOWN_FIELDS)
        else:
            return RedirectResponse(f"/app/agents/{agent.id}?notice=created", status_code=303)
    return await _editor(request, session, principal, agent=None, values=values, errors=errors, status_code=422)


NOTICES = {
    "created": "Agent created. Publish it to talk to it or take calls.",
    "saved": "Draft saved. Publish to make calls use it.",
    "published": "Published: new calls use this version.",
    "rolled-back": "Rolled back: the chosen version is published again and the draft reset to it.",
}


@router.get("/app/agents/{agent_id}")
async def agent_page(
    request: Request, agent_id: AgentId, principal: CurrentUser, session: Session, notice: str | None = None
) -> Response:
    agent = await agents.get_agent(session, principal=principal, agent_id=agent_id)
    values = spec_to_values(agent.spec)
    return await _editor(
        request, session, principal, agent=agent, values=values, errors=FormErrors(), notice=NOTICES.get(notice or "")
    )


@router.post("/app/agents/{agent_id}")
async def save_agent(request: Request, agent_id: AgentId, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("agents:write")
    agent = await agents.get_agent(session, principal=principal, agent_id=agent_id)
    spec, values, errors = _parse(await read_form(request))
    if spec is not None:
        try:
            await agents.replace_agent(session, principal=principal, agent_id=agent.id, spec=spec)
        except Problem as exc:
            errors = problem_errors(exc, KNOWN_FIELDS)
        else:
            return RedirectResponse(f"/app/agents/{agent.id}?notice=saved", status_code=303)
    return await _editor(request, session, principal, agent=agent, values=values, errors=errors, status_code=422)


@router.post("/app/agents/{agent_id}/publish")
async def publish(request: Request, agent_id: AgentId, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("agents:write")
    await agents.publish_agent(session, principal=principal, agent_id=agent_id)
    return RedirectResponse(f"/app/agents/{agent_id}?notice=published", status_code=303)


@router.post("/app/agents/{agent_id}/delete")
async def delete(request: Request, agent_id: AgentId, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("agents:write")
    await agents.delete_agent(session, principal=principal, agent_id=agent_id)
    return RedirectResponse("/app/agents", status_code=303)


@router.get("/app/agents/{agent_id}/versions")
async def versions_page(request: Request, agent_id: AgentId, principal: CurrentUser, session: Session) -> Response:
    agent = await agents.get_agent(session, principal=principal, agent_id=agent_id)
    rows, _ = await agents.list_versions(session, principal=principal, agent_id=agent.id, params=PageParams(limit=100))
    context = {"agent": AgentOut.of(agent), "versions": rows, "can_write": principal.can("agents:write")}
    return await render(
        request, "agents/versions.html", context, session=session, principal=principal, section="agents"
    )


def _side(value: str) -> str:
    if value == "draft":
        return value
    if not value.isdigit() or not 1 <= int(value) <= 1_000_000:
        raise BadRequest("choose a version number or the draft")
    return value


@router.get("/app/agents/{agent_id}/diff")
async def diff(
    request: Request, agent_id: AgentId, principal: CurrentUser, session: Session, a: str = "draft", b: str = "draft"
) -> Response:
    """A unified diff of two versions (or a version and the draft), as pretty JSON."""
    agent = await agents.get_agent(session, principal=principal, agent_id=agent_id)

    async def spec_of(side: str) -> dict[str, Any]:
        if side == "draft":
            return agent.spec
        row = await agents.get_version(session, principal=principal, agent_id=agent.id, version=int(side))
        return row.spec

    left, right = _side(a[:10]), _side(b[:10])
    old, new = await spec_of(left), await spec_of(right)
    label = {"draft": "draft"}
    lines = list(
        difflib.unified_diff(
            json.dumps(old, indent=2, sort_keys=True, ensure_ascii=False).splitlines(),
            json.dumps(new, indent=2, sort_keys=True, ensure_ascii=False).splitlines(),
            fromfile=label.get(left, f"version {left}"),
            tofile=label.get(right, f"version {right}"),
            lineterm="",
            n=2,
        )
    )
    context = {"lines": lines, "a": left, "b": right, "same": spec_digest(old) == spec_digest(new)}
    return fragment(request, "agents/diff.html", context)


@router.post("/app/agents/{agent_id}/rollback")
async def rollback(request: Request, agent_id: AgentId, principal: CurrentUser, session: Session) -> Response:
    principal.ensure("agents:write")
    version = (await read_form(request)).get("version", "")
    if not version.isdigit():
        raise BadRequest("choose a version to roll back to")
    await agents.rollback_agent(session, principal=principal, agent_id=agent_id, version=int(version))
    return RedirectResponse(f"/app/agents/{agent_id}?notice=rolled-back", status_code=303)


@router.get("/app/agents/{agent_id}/talk")
async def talk(request: Request, agent_id: AgentId, principal: CurrentUser, session: Session) -> Response:
    agent = await agents.get_agent(session, principal=principal, agent_id=agent_id)
    context = {"agent": AgentOut.of(agent), "agent_id": agent.id, "can_call": principal.can("calls:write")}
    return await render(request, "agents/talk.html", context, session=session, principal=principal, section="agents")


@router.post("/app/agents/{agent_id}/web-call")
async def start_web_call(
    request: Request, agent_id: AgentId, ctx: Ctx, principal: CurrentUser, session: Session
) -> Response:
    """What the talk page's script asks for instead of a bearer token when the user is signed in."""
    principal.ensure("calls:write")
    try:
        call, token = await calls.start_web_call(session, ctx=ctx, principal=principal, agent_id=agent_id, variables={})
    except Problem as exc:
        return JSONResponse({"title": exc.title, "detail": exc.detail}, status_code=exc.status)
    ws_base = str(request.base_url).replace("http", "ws", 1).rstrip("/")
    body = {
        "call": {"id": call.id, "agent_id": call.agent_id, "agent_version": call.agent_version},
        "token": token.token,
        "websocket_url": f"{ws_base}/media/web",
        "expires_at": token.expires_at.isoformat(),
    }
    return JSONResponse(body, status_code=201)
