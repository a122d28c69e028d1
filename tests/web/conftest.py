"""A browser-like HTTP client for the dashboard: it keeps the session cookies and sends the CSRF
token with every form, as the pages' own forms do."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class WebUser:
    client: httpx.AsyncClient
    email: str
    password: str

    @property
    def csrf(self) -> str:
        return self.client.cookies.get("bvrai_csrf", path="/app") or ""

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(url, **kwargs)

    async def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """Submit a form the way its page does: with the CSRF token from the cookie set by an earlier page."""
        if not self.csrf:
            await self.client.get("/app/login")
        return await self.client.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    async def api(self) -> httpx.AsyncClient:
        """An API client for the same account (a fresh login), to set up data quickly."""
        r = await self.client.post("/v1/auth/login", json={"email": self.email, "password": self.password})
        token = r.json()["access_token"]
        api = httpx.AsyncClient(transport=self.client._transport, base_url="http://testserver")
        api.headers["Authorization"] = f"Bearer {token}"
        return api


_counter = iter(range(10**9))


@pytest.fixture
async def web_clients(app: FastAPI) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    made: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        made.append(c)
        return c

    yield make
    for c in made:
        await c.aclose()


@pytest.fixture
def web_signup(web_clients: Callable[[], httpx.AsyncClient]) -> Callable[..., Any]:
    """Sign up through the sign-up page; returns the signed-in user."""

    async def _signup(org: str = "Acme", email: str | None = None) -> WebUser:
        user = WebUser(web_clients(), email or f"web{next(_counter)}@example.com", "correct horse battery")
        await user.get("/app/signup")
        r = await user.post(
            "/app/signup",
            {"name": "Ada Lovelace", "email": user.email, "password": user.password, "organization_name": org},
        )
        assert r.status_code == 303, r.text
        return user

    return _signup


@pytest.fixture
async def web_owner(web_signup: Callable[..., Any]) -> WebUser:
    user: WebUser = await web_signup("Acme")
    return user
