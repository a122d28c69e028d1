"""Sign up, log in, log out and switch organization: the pages that start and end a session."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bvrai.identity import auth_service, invitation_service
from bvrai.identity.schemas import InvitationAcceptIn, LoginIn, SignupIn
from bvrai.kit.context import Ctx, Session, client_ip
from bvrai.kit.errors import Problem, RateLimited
from bvrai.web.forms import FormErrors, problem_errors, read_form, validate
from bvrai.web.rendering import render
from bvrai.web.session import REFRESH_COOKIE, CurrentUser, WebRoute, end_session, start_session

router = APIRouter(route_class=WebRoute, include_in_schema=False)

SIGNUP_FIELDS = {"name", "email", "password", "organization_name"}
LOGIN_FIELDS = {"email", "password"}


def _next_url(value: str | None) -> str:
    """Only a path inside the dashboard: never an open redirect to another site."""
    if value and value.startswith("/app") and not value.startswith("//") and "\\" not in value:
        return value
    return "/app"


async def _limit(request: Request, ctx: Ctx) -> None:
    await ctx.limiter.hit(ctx.settings.rate_limit_auth_ip, "auth", client_ip(request))


@router.get("/app/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    return await render(request, "auth/login.html", {"values": {}, "errors": FormErrors(), "next": _next_url(next)})


@router.post("/app/login")
async def login(request: Request, ctx: Ctx, session: Session) -> Response:
    form = await read_form(request)
    target = _next_url(form.get("next"))
    values = {"email": form.get("email", "")}
    data, errors = validate(
        LoginIn, {"email": form.get("email", ""), "password": form.get("password", "")}, LOGIN_FIELDS
    )
    if data is not None:
        try:
            await _limit(request, ctx)
            pair = await auth_service.login(session, ctx=ctx, data=data, ip=client_ip(request))
        except RateLimited as exc:
            errors = problem_errors(exc)
        except Problem as exc:
            await session.commit()  # keep the failed-login count
            errors = problem_errors(exc)
        else:
            start_session(request, pair)
            return RedirectResponse(target, status_code=303)
    context = {"values": values, "errors": errors, "next": target}
    return await render(request, "auth/login.html", context, status_code=422)


@router.get("/app/signup")
async def signup_page(request: Request) -> Response:
    return await render(request, "auth/signup.html", {"values": {}, "errors": FormErrors()})


@router.post("/app/signup")
async def signup(request: Request, ctx: Ctx, session: Session) -> Response:
    form = await read_form(request)
    values = {k: form.get(k, "") for k in ("name", "email", "organization_name")}
    data, errors = validate(SignupIn, {**values, "password": form.get("password", "")}, SIGNUP_FIELDS)
    if data is not None:
        try:
            await _limit(request, ctx)
            pair = await auth_service.signup(session, ctx=ctx, data=data, ip=client_ip(request))
        except Problem as exc:
            errors = problem_errors(exc)
            if "already exists" in exc.detail:
                errors = FormErrors({"email": exc.detail})
        else:
            start_session(request, pair)
            return RedirectResponse("/app/agents", status_code=303)
    return await render(request, "auth/signup.html", {"values": values, "errors": errors}, status_code=422)


INVITE_FIELDS = {"token", "name", "password"}


@router.get("/app/accept-invite")
async def accept_invite_page(request: Request, token: str = "") -> Response:
    """Where an invitation link leads: the invitee sets a password (or gives their existing one)."""
    return await render(request, "auth/accept_invite.html", {"values": {"token": token[:200]}, "errors": FormErrors()})


@router.post("/app/accept-invite")
async def accept_invite(request: Request, ctx: Ctx, session: Session) -> Response:
    form = await read_form(request)
    values = {"token": form.get("token", "")[:200], "name": form.get("name", "")}
    payload = {**values, "password": form.get("password", ""), "name": values["name"].strip() or None}
    data, errors = validate(InvitationAcceptIn, payload, INVITE_FIELDS)
    if data is not None:
        try:
            await _limit(request, ctx)
            pair = await invitation_service.accept(session, ctx=ctx, data=data, ip=client_ip(request))
        except Problem as exc:
            errors = problem_errors(exc)
        else:
            start_session(request, pair)
            return RedirectResponse("/app", status_code=303)
    return await render(request, "auth/accept_invite.html", {"values": values, "errors": errors}, status_code=422)


@router.post("/app/logout")
async def logout(request: Request, ctx: Ctx, session: Session) -> Response:
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        await auth_service.logout(session, ctx=ctx, refresh_token=refresh)
    end_session(request)
    return RedirectResponse("/app/login", status_code=303)


@router.post("/app/switch-org")
async def switch_org(request: Request, principal: CurrentUser, ctx: Ctx, session: Session) -> Response:
    form = await read_form(request)
    org_id = form.get("organization_id", "")[:64]
    if org_id and org_id != principal.org_id:
        # The cookie may have been rotated by page_principal just now: switch from the newest token.
        pending = getattr(request.state, "new_tokens", None)
        refresh = pending.refresh_token if pending else request.cookies.get(REFRESH_COOKIE, "")
        pair = await auth_service.switch_organization(session, ctx=ctx, refresh_token=refresh, organization_id=org_id)
        start_session(request, pair)
    return RedirectResponse("/app", status_code=303)
