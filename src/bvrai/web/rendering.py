"""Templates, their filters, and the one function pages render with."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai import __version__
from bvrai.identity import org_service
from bvrai.identity.principal import Principal
from bvrai.kit.errors import Problem
from bvrai.web.session import csrf_token, set_error_renderer

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    return f"{minutes}:{secs:02d}" if minutes < 60 else f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def _ms(value: Any) -> str:
    return f"{round(value):,} ms" if isinstance(value, int | float) else "—"


def _clock(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = ms // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


templates.env.filters.update(when=_when, duration=_duration, ms=_ms, clock=_clock, pretty_json=_pretty_json)
templates.env.globals.update(version=__version__)


NAV = (
    ("overview", "/app", "Overview", "analytics:read"),
    ("agents", "/app/agents", "Agents", "agents:read"),
    ("calls", "/app/calls", "Calls", "calls:read"),
    ("knowledge", "/app/knowledge", "Knowledge", "knowledge_bases:read"),
    ("webhooks", "/app/webhooks", "Webhooks", "webhooks:read"),
    ("api_keys", "/app/api-keys", "API keys", "api_keys:read"),
    ("team", "/app/team", "Team", "members:read"),
    ("credentials", "/app/credentials", "Credentials", "credentials:read"),
    ("audit", "/app/audit", "Audit log", "audit_logs:read"),
)


async def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    session: AsyncSession | None = None,
    principal: Principal | None = None,
    section: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page; with a principal and a session it gets the signed-in layout (nav, org switcher)."""
    values: dict[str, Any] = {"csrf_token": csrf_token(request), "section": section, "principal": principal}
    if principal is not None and session is not None and principal.user_id is not None:
        values["me"] = await org_service.me(session, principal=principal)
        values["nav"] = [item for item in NAV if principal.can(item[3])]
    values.update(context or {})
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def fragment(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    """A piece of a page, for htmx to swap in."""
    values = {"csrf_token": csrf_token(request), **context}
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def _error_page(request: Request, exc: Problem) -> Response:
    context = {"csrf_token": csrf_token(request), "status": exc.status, "title": exc.title, "detail": exc.detail}
    if request.headers.get("hx-request"):
        return templates.TemplateResponse(request, "partials/error.html", context, status_code=exc.status)
    headers = dict(exc.headers)
    headers.pop("WWW-Authenticate", None)
    return templates.TemplateResponse(request, "error.html", context, status_code=exc.status, headers=headers)


set_error_renderer(_error_page)
