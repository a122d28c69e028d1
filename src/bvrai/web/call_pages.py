"""Calls: the searchable list, one call's detail (recording, transcript, latency waterfall, tools,
events), and the overview page with its KPIs and charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, Response

from bvrai.agents import service as agents
from bvrai.analytics import service as analytics
from bvrai.calls import service as calls
from bvrai.calls.models import Call, CallMessage
from bvrai.calls.phones import number_hash, read_numbers
from bvrai.kit.context import Ctx, Session
from bvrai.kit.errors import NotFound
from bvrai.kit.pagination import PageParams
from bvrai.web.rendering import fragment, render
from bvrai.web.session import CurrentUser, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
CallId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PAGE_SIZE = 25
STATUSES = ("queued", "ringing", "in-progress", "completed", "failed", "busy", "no-answer", "canceled")
DIRECTIONS = ("inbound", "outbound", "web")
END_REASONS = (
    "caller-hangup",
    "agent-hangup",
    "end-call-phrase",
    "silence-timeout",
    "max-duration",
    "transferred",
    "setup-failed",
    "error",
)


@dataclass
class CallFilters:
    agent_id: str = ""
    status: str = ""
    direction: str = ""
    end_reason: str = ""
    phone: str = ""
    date_from: str = ""
    date_to: str = ""

    def query(self) -> str:
        return urlencode({k: v for k, v in self.__dict__.items() if v})


def _date(value: str, name: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = "use a date like 2026-01-31"
        return None


def _filters(request: Request) -> tuple[CallFilters, dict[str, Any], dict[str, str]]:
    q = request.query_params
    f = CallFilters(**{k: q.get(k, "")[:64].strip() for k in CallFilters.__dataclass_fields__})
    errors: dict[str, str] = {}
    if f.status and f.status not in STATUSES:
        errors["status"] = "unknown status"
    if f.direction and f.direction not in DIRECTIONS:
        errors["direction"] = "unknown direction"
    start, end = _date(f.date_from, "date_from", errors), _date(f.date_to, "date_to", errors)
    if start and end and end < start:
        errors["date_to"] = "the end date is before the start date"
    ctx = request.app.state.ctx
    where: dict[str, Any] = {
        "agent_id": f.agent_id or None,
        "status": f.status if "status" not in errors and f.status else None,
        "direction": f.direction if "direction" not in errors and f.direction else None,
        "end_reason": f.end_reason or None,
        "phone_hash": number_hash(ctx, f.phone) if f.phone else None,
        "created_from": datetime(start.year, start.month, start.day, tzinfo=UTC) if start else None,
        "created_before": datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1) if end else None,
    }
    return f, where, errors


@router.get("/app/calls")
async def call_list(request: Request, principal: CurrentUser, session: Session, cursor: str | None = None) -> Response:
    principal.ensure("calls:read")
    filters, where, errors = _filters(request)
    params = PageParams(limit=PAGE_SIZE, cursor=cursor[:200] if cursor else None)
    rows, next_cursor = await calls.list_calls(session, principal=principal, params=params, filters=where)
    agent_rows, _ = await agents.list_agents(session, principal=principal, params=PageParams(limit=100))
    context = {
        "calls": rows,
        "next_cursor": next_cursor,
        "filters": filters,
        "errors": errors,
        "agents": agent_rows,
        "agent_names": {a.id: a.name for a in agent_rows},
        "statuses": STATUSES,
        "directions": DIRECTIONS,
        "end_reasons": END_REASONS,
        "filtered": bool(filters.query()),
    }
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "call-results":
        return fragment(request, "calls/results.html", context)
    return await render(request, "calls/list.html", context, session=session, principal=principal, section="calls")


@dataclass(frozen=True)
class TurnBar:
    """One turn of the waterfall: where each stage starts and ends, in ms after the caller stopped."""

    index: int
    stt: tuple[int, int] | None
    llm: tuple[int, int] | None
    tts: tuple[int, int] | None
    play: tuple[int, int] | None
    total: int | None


def waterfall(latency: dict[str, Any]) -> tuple[list[TurnBar], int]:
    bars: list[TurnBar] = []
    for i, turn in enumerate(latency.get("turns") or [], start=1):
        if not isinstance(turn, dict):
            continue
        marks = [turn.get(k) for k in ("transcript_ms", "llm_first_token_ms", "tts_first_audio_ms", "bot_started_ms")]
        points = [int(m) if isinstance(m, int | float) else None for m in marks]
        spans: list[tuple[int, int] | None] = []
        start = 0
        for point in points:
            if point is None:
                spans.append(None)
                continue
            spans.append((start, max(point, start)))
            start = max(point, start)
        bars.append(TurnBar(i, spans[0], spans[1], spans[2], spans[3], points[3]))
    scale = max([b.total or 0 for b in bars] + [s[1] for b in bars for s in (b.stt, b.llm, b.tts, b.play) if s] + [1])
    return bars, scale


def _tool_calls(messages: list[CallMessage]) -> list[CallMessage]:
    return [m for m in messages if m.role == "tool"]


@router.get("/app/calls/{call_id}")
async def call_detail(
    request: Request, call_id: CallId, ctx: Ctx, principal: CurrentUser, session: Session
) -> Response:
    principal.ensure("calls:read")
    call = await calls.get_call(session, principal=principal, call_id=call_id)
    messages = await calls.transcript(session, principal=principal, call_id=call.id)
    events = await calls.events(session, principal=principal, call_id=call.id)
    try:
        agent_name = (await agents.get_agent(session, principal=principal, agent_id=call.agent_id)).name
    except NotFound:
        agent_name = call.agent_id  # deleted since
    bars, scale = waterfall(call.latency or {})
    from_number, to_number = read_numbers(ctx, call)
    context = {
        "call": call,
        "agent_name": agent_name,
        "messages": messages,
        "tool_calls": _tool_calls(messages),
        "events": events,
        "bars": bars,
        "scale": scale,
        "has_recording": _has_recording(ctx, call),
        "from_number": from_number,
        "to_number": to_number,
    }
    return await render(request, "calls/detail.html", context, session=session, principal=principal, section="calls")


def _has_recording(ctx: Ctx, call: Call) -> bool:
    return bool(call.recording_key) and ctx.storage.exists(call.recording_key or "")


@router.get("/app/calls/{call_id}/recording")
async def recording(call_id: CallId, ctx: Ctx, principal: CurrentUser, session: Session) -> Response:
    """The recording for the page's audio player (the cookie authenticates; the API wants a bearer token)."""
    principal.ensure("calls:read")
    call = await calls.get_call(session, principal=principal, call_id=call_id)
    if not _has_recording(ctx, call):
        raise NotFound("this call has no recording")
    return FileResponse(ctx.storage.path(call.recording_key or ""), media_type="audio/wav")


@router.get("/app")
async def overview(request: Request, principal: CurrentUser, session: Session, days: int = 30) -> Response:
    if not principal.can("analytics:read"):
        return await render(request, "overview.html", {"data": None}, session=session, principal=principal)
    days = days if days in (7, 30, 90) else 30
    data = await analytics.overview(session, principal=principal, days=days)
    has_agents = bool((await agents.list_agents(session, principal=principal, params=PageParams(limit=1)))[0])
    context = {"data": data, "days": days, "has_agents": has_agents, "can_write": principal.can("agents:write")}
    return await render(request, "overview.html", context, session=session, principal=principal, section="overview")
