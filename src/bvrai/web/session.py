"""Dashboard sessions: the API's JWT access token and rotating refresh token, kept in cookies.

* ``bvrai_access`` holds the 15-minute access token, ``bvrai_refresh`` the refresh token; both are
  HttpOnly (no script can read them), SameSite=Lax, Secure when the page came over HTTPS, and scoped
  to ``/app``. When the access token has expired the next page spends the refresh token in a
  transaction of its own and sets the new pair, so a user stays logged in while they use the app.
* CSRF: a double-submit token. ``bvrai_csrf`` is a random value set with the first page; every
  form carries it in a hidden ``csrf_token`` field (htmx sends it as ``X-CSRF-Token``), and an
  unsafe request whose value does not match the cookie's is refused before its handler runs.
  A request whose ``Origin`` names another site is refused too.

Pages use ``WebRoute`` so that these rules, the redirect to the log-in page and the HTML error page
apply to every one of them.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from bvrai.identity import auth_service
from bvrai.identity.auth import user_principal
from bvrai.identity.principal import Principal
from bvrai.identity.schemas import TokenPair
from bvrai.kit.context import Ctx, Session, client_ip
from bvrai.kit.errors import Problem, Unauthorized

ACCESS_COOKIE = "bvrai_access"
REFRESH_COOKIE = "bvrai_refresh"
CSRF_COOKIE = "bvrai_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/app"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid session: the page sends the browser to the log-in page."""


class CsrfRejected(Problem):
    status, slug, title = 403, "csrf", "Form expired"


def csrf_token(request: Request) -> str:
    """The request's CSRF token, made (and set as a cookie with the response) when it has none."""
    token: str | None = getattr(request.state, "csrf", None) or request.cookies.get(CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    request.state.csrf = token
    return token


async def check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise CsrfRejected("this form was sent from another site")
    expected = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER, "")
    content_type = request.headers.get("content-type", "")
    if not sent and content_type.startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    elif not sent and content_type.startswith("multipart/form-data"):
        # Never parse an upload before its handler can bound it: a file form names its token in its URL.
        sent = request.query_params.get(CSRF_FIELD, "")
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRejected("the form had expired; reload the page and send it again")


def start_session(request: Request, pair: TokenPair) -> None:
    """Have the response set these tokens as the session's cookies."""
    request.state.new_tokens = pair


def end_session(request: Request) -> None:
    request.state.clear_session = True


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def apply_cookies(request: Request, response: Response) -> None:
    secure = _secure(request)
    common: dict[str, Any] = {"path": COOKIE_PATH, "secure": secure, "httponly": True, "samesite": "lax"}
    pair: TokenPair | None = getattr(request.state, "new_tokens", None)
    if pair is not None:
        ctx = request.app.state.ctx
        response.set_cookie(ACCESS_COOKIE, pair.access_token, max_age=pair.expires_in, **common)
        response.set_cookie(REFRESH_COOKIE, pair.refresh_token, max_age=ctx.settings.refresh_token_ttl_s, **common)
    elif getattr(request.state, "clear_session", False):
        response.delete_cookie(ACCESS_COOKIE, path=COOKIE_PATH, secure=secure, httponly=True, samesite="lax")
        response.delete_cookie(REFRESH_COOKIE, path=COOKIE_PATH, secure=secure, httponly=True, samesite="lax")
    new_csrf: str | None = getattr(request.state, "new_csrf", None)
    if new_csrf:
        response.set_cookie(CSRF_COOKIE, new_csrf, **common)


async def page_principal(request: Request, ctx: Ctx, session: Session) -> Principal:
    """The signed-in user, refreshing an expired access token from the refresh cookie."""
    ip = client_ip(request)
    access = request.cookies.get(ACCESS_COOKIE)
    if access:
        try:
            principal = await user_principal(session, ctx=ctx, access_token=access, ip=ip)
        except Unauthorized:
            pass
        else:
            request.state.principal = principal
            return principal
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not refresh:
        raise LoginRequired
    try:
        # Its own transaction: the rotation holds even if the page itself fails afterwards.
        async with ctx.sessions() as own:
            pair = await auth_service.refresh(own, ctx=ctx, refresh_token=refresh)
            await own.commit()
    except Unauthorized:
        end_session(request)
        raise LoginRequired from None
    start_session(request, pair)
    principal = await user_principal(session, ctx=ctx, access_token=pair.access_token, ip=ip)
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(page_principal)]


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method not in SAFE_METHODS:
        target = request.headers.get("hx-current-url") or "/app"
        target = urlsplit(target).path or "/app"
    url = f"/app/login?next={quote(target, safe='/')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


ErrorRenderer = Callable[[Request, Problem], Response]
_error_renderer: list[ErrorRenderer] = []


def set_error_renderer(renderer: ErrorRenderer) -> None:
    _error_renderer[:] = [renderer]


class WebRoute(APIRoute):
    """A dashboard page: CSRF check first, session cookies and errors as HTML pages after."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                await check_csrf(request)
                response = await original(request)
            except LoginRequired:
                response = login_redirect(request)
            except Problem as exc:
                if isinstance(exc, Unauthorized):
                    end_session(request)
                    response = login_redirect(request)
                else:
                    response = _error_renderer[0](request, exc)
            apply_cookies(request, response)
            response.headers.setdefault("cache-control", "no-store")
            return response

        return handler
