"""With BVRAI_REDIS_URL set, limits hold across processes: two app instances share one counter."""

from __future__ import annotations

import secrets

import httpx
import pytest
from asgi_lifespan import LifespanManager

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def backend_url(database_url: str) -> str:
    return database_url


async def test_failed_logins_are_counted_across_instances_through_redis(backend_url, tmp_path):
    await prepare_schema(backend_url)
    settings = make_settings(backend_url, tmp_path, redis_url=REDIS_URL)
    ip = f"192.0.2.{secrets.randbelow(250) + 1}"
    first, second = create_app(settings), create_app(settings.model_copy())
    async with LifespanManager(first), LifespanManager(second):
        await first.state.ctx.limiter.clear(settings.rate_limit_failed_login_ip, "login-failed", ip)

        def client(app):
            return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 1)), base_url="http://t")

        async with client(first) as a, client(second) as b:
            body = {"email": "nobody@example.com", "password": "wrong"}
            for i in range(10):
                r = await (a if i % 2 else b).post("/v1/auth/login", json=body)
                assert r.status_code == 401
            r = await a.post("/v1/auth/login", json=body)
            assert r.status_code == 429
            assert "retry-after" in r.headers
