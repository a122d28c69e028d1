"""Knowledge-base fixtures: an app whose SSRF allow-list admits one loopback address (127.0.0.2, where
the test web server listens) and nothing else, a small upload limit, and helpers to wait for ingestion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bvrai.config import Settings
from tests.conftest import make_settings

PAGE_HOST = "127.0.0.2"
UPLOAD_LIMIT = 2 * 1024 * 1024


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        ssrf_allow=PAGE_HOST,
        knowledge_max_upload_bytes=UPLOAD_LIMIT,
    )


@pytest.fixture
async def web_pages() -> AsyncIterator[dict[str, Any]]:
    """A web server on 127.0.0.2 serving the pages a test puts in the returned dict (path -> HTML)."""
    pages: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        body = pages.get(request.path)
        if body is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, PAGE_HOST, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    pages["_base"] = f"http://{PAGE_HOST}:{port}"
    try:
        yield pages
    finally:
        await runner.cleanup()


async def create_kb(client: httpx.AsyncClient, headers: dict[str, str], name: str = "Help centre", **extra: Any) -> str:
    r = await client.post("/v1/knowledge-bases", headers=headers, json={"name": name, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], kb_id: str, filename: str, data: bytes, mime: str = ""
) -> httpx.Response:
    files = {"file": (filename, data, mime or "application/octet-stream")}
    return await client.post(f"/v1/knowledge-bases/{kb_id}/documents", headers=headers, files=files)


async def wait_done(
    client: httpx.AsyncClient, headers: dict[str, str], kb_id: str, doc_id: str, wait_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while True:
        r = await client.get(f"/v1/knowledge-bases/{kb_id}/documents/{doc_id}", headers=headers)
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()
        if doc["status"] in ("ready", "failed"):
            return doc
        assert time.monotonic() < deadline, f"still {doc['status']} after {wait_s} s: {doc}"
        await asyncio.sleep(0.2)


async def search(
    client: httpx.AsyncClient, headers: dict[str, str], kb_id: str, query: str, **extra: Any
) -> list[dict[str, Any]]:
    r = await client.post(f"/v1/knowledge-bases/{kb_id}/search", headers=headers, json={"query": query, **extra})
    assert r.status_code == 200, r.text
    hits: list[dict[str, Any]] = r.json()["data"]
    return hits
