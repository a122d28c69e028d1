"""Knowledge bases in the dashboard: create one, upload a document, add a page; limits and tenancy."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.web.conftest import WebUser

NOTES = b"Bella Pizza opens at 11 am and closes at 10 pm every day.\n" * 20


async def wait_until_indexed(user: WebUser, kb_id: str, timeout_s: float = 90) -> str:
    """The documents fragment once nothing is queued or processing (ingestion runs as a background job)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        docs = await user.get(f"/app/knowledge/{kb_id}", headers={"HX-Request": "true", "HX-Target": "documents"})
        if not re.search(r">(queued|processing)<", docs.text) or asyncio.get_running_loop().time() > deadline:
            return docs.text
        await asyncio.sleep(0.3)


async def make_kb(user: WebUser) -> str:
    r = await user.post("/app/knowledge", {"name": "Opening hours", "description": "What callers ask"})
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1]


async def test_a_new_knowledge_base_takes_an_uploaded_document(web_owner: WebUser) -> None:
    assert "No knowledge bases yet" in (await web_owner.get("/app/knowledge")).text
    kb_id = await make_kb(web_owner)
    page = await web_owner.get(f"/app/knowledge/{kb_id}")
    assert "No documents yet" in page.text and 'id="upload-form"' in page.text
    r = await web_owner.client.post(
        f"/app/knowledge/{kb_id}/documents",
        files={"file": ("hours.txt", NOTES, "text/plain")},
        headers={"X-CSRF-Token": web_owner.csrf, "X-Requested-With": "fetch"},
    )
    assert r.status_code == 201 and r.json()["name"] == "hours.txt"
    docs = await web_owner.get(f"/app/knowledge/{kb_id}", headers={"HX-Request": "true", "HX-Target": "documents"})
    assert "hours.txt" in docs.text and "<html" not in docs.text
    assert re.search(r'badge (queued|ok)">(queued|processing|ready)<', docs.text)
    # The plain form (no script) names its CSRF token in its URL and is redirected back.
    plain = await web_owner.client.post(
        f"/app/knowledge/{kb_id}/documents?csrf_token={web_owner.csrf}",
        files={"file": ("more.md", b"# More\nWe deliver until 9 pm.", "text/markdown")},
    )
    assert plain.status_code == 303
    assert "more.md" in (await web_owner.get(f"/app/knowledge/{kb_id}")).text
    indexed = await wait_until_indexed(web_owner, kb_id)
    assert indexed.count('badge ok">ready<') == 2, indexed


async def test_uploads_are_checked(web_owner: WebUser, app: Any) -> None:
    kb_id = await make_kb(web_owner)
    url = f"/app/knowledge/{kb_id}/documents"
    unsigned = await web_owner.client.post(url, files={"file": ("a.txt", b"x", "text/plain")})
    assert unsigned.status_code == 403
    headers = {"X-CSRF-Token": web_owner.csrf}
    empty = await web_owner.client.post(url, data={"x": "1"}, files={"other": ("a.txt", b"x")}, headers=headers)
    assert empty.status_code == 422 and "choose a file" in empty.text
    limit = app.state.ctx.settings.knowledge_max_upload_bytes
    big = await web_owner.client.post(
        url, files={"file": ("big.txt", b"a" * (limit + 1), "text/plain")}, headers=headers
    )
    assert big.status_code == 413 and "limit" in big.text
    binary = await web_owner.client.post(url, files={"file": ("x.bin", bytes(range(256)) * 8)}, headers=headers)
    assert binary.status_code == 415
    bad = await web_owner.post(f"/app/knowledge/{kb_id}/urls", {"url": "ftp://example.com/x"})
    assert bad.status_code == 422 and 'id="f-url"' in bad.text
    local = await web_owner.post(f"/app/knowledge/{kb_id}/urls", {"url": "http://127.0.0.1:9/secret"})
    assert local.status_code == 422
    invalid = await web_owner.post("/app/knowledge", {"name": "x", "chunk_tokens": "100", "chunk_overlap": "90"})
    assert invalid.status_code == 422 and "at most half" in invalid.text


async def test_another_organizations_knowledge_base_is_not_found(web_owner: WebUser, web_signup: Any) -> None:
    kb_id = await make_kb(web_owner)
    intruder: WebUser = await web_signup("Initech")
    assert (await intruder.get(f"/app/knowledge/{kb_id}")).status_code == 404
    r = await intruder.client.post(
        f"/app/knowledge/{kb_id}/documents",
        files={"file": ("x.txt", b"hello", "text/plain")},
        headers={"X-CSRF-Token": intruder.csrf},
    )
    assert r.status_code == 404
    assert "Opening hours" not in (await intruder.get("/app/knowledge")).text
