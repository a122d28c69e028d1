"""Cross-cutting HTTP behaviour: problem+json for every error, request ids, security headers, CORS."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema


async def test_unknown_routes_and_methods_are_problems(client):
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = await client.delete("/v1/auth/login")
    assert r.status_code == 405 and r.json()["status"] == 405


async def test_malformed_json_is_a_422_naming_the_problem(client):
    r = await client.post("/v1/auth/signup", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["type"] == "json_invalid"


async def test_a_garbage_cursor_is_a_400(client, owner):
    r = await client.get("/v1/api-keys?cursor=%%%%", headers=owner.headers)
    assert r.status_code == 400 and "cursor" in r.json()["detail"]


async def test_request_ids_are_echoed_or_made(client):
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-ID": b"bad id with spaces" + b"\xe9"})
    assert r.headers["x-request-id"].startswith("req_")
    problem = (await client.get("/v1/me")).json()
    assert problem["request_id"].startswith("req_")


async def test_security_headers_are_on_every_response(client):
    r = await client.get("/healthz")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


async def test_an_unexpected_error_is_a_500_problem_without_a_traceback(app, client):
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert r.json()["request_id"].startswith("req_")


async def test_readiness_checks_the_database(client):
    assert (await client.get("/readyz")).json() == {"status": "ok"}


async def test_cors_allows_only_configured_origins(database_url, tmp_path):
    await prepare_schema(database_url)
    app = create_app(make_settings(database_url, tmp_path, cors_origins=["https://console.example.com"]))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            preflight = {"Access-Control-Request-Method": "GET"}
            ok = await c.options("/v1/me", headers={"Origin": "https://console.example.com", **preflight})
            assert ok.headers["access-control-allow-origin"] == "https://console.example.com"
            bad = await c.options("/v1/me", headers={"Origin": "https://evil.example", **preflight})
            assert "access-control-allow-origin" not in bad.headers


async def test_requests_are_counted_by_route_template_in_metrics(client, owner):
    await client.get(f"/v1/api-keys/key_{'0' * 26}", headers=owner.headers)
    text = (await client.get("/metrics")).text
    assert 'bvrai_http_requests_total{method="GET",route="/v1/api-keys/{key_id}",status="404"}' in text
    assert "key_000" not in text
