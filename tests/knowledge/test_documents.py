"""A user fills a knowledge base with a PDF, a Word file, a web page and a Markdown file, and finds a
fact from each by searching; unsafe URLs, oversized and broken files are refused with reasons."""

from __future__ import annotations

from tests.knowledge.conftest import UPLOAD_LIMIT, create_kb, search, upload, wait_done
from tests.knowledge.documents import docx, pdf

WARRANTY_PDF = pdf(
    [
        ["Product manual: Corvina espresso machine", "Clean the steam wand after each use."],
        ["Warranty", "The Corvina espresso machine has a warranty of seven years on the boiler."],
    ]
)
HANDBOOK_DOCX = docx(
    "Staff handbook",
    [
        ("Parking", ["Staff park their cars on level minus three of the Aldgate garage."]),
        ("Holidays", ["Every employee gets twenty-eight days of paid holiday a year."]),
    ],
)
DELIVERY_HTML = """<!doctype html><html><head><title>Delivery information</title></head><body>
<nav><a href="/">Home</a> | <a href="/shop">Shop</a></nav>
<main><article><h1>Delivery information</h1>
<p>We deliver to the Orkney islands every Thursday by ferry from Aberdeen.</p>
<p>Parcels over twenty kilograms travel by freight and take two extra days.</p>
</article></main><footer>Copyright 2026 Example Ltd</footer></body></html>"""
RETURNS_MD = b"""# Returns policy

## Time limits

Unworn shoes can be returned within 45 days of delivery for a full refund.

## How to return

Print the label from your account and drop the parcel at any post office.
"""


async def test_four_kinds_of_document_become_ready_and_each_fact_is_found(client, owner, web_pages):
    h = owner.headers
    kb = await create_kb(client, h)
    web_pages["/delivery"] = DELIVERY_HTML

    # Names lie on purpose: the type comes from the bytes.
    pdf_doc = (await upload(client, h, kb, "manual.txt", WARRANTY_PDF, "text/plain")).json()
    docx_doc = (await upload(client, h, kb, "handbook.bin", HANDBOOK_DOCX)).json()
    md_doc = (await upload(client, h, kb, "returns.md", RETURNS_MD, "text/markdown")).json()
    r = await client.post(
        f"/v1/knowledge-bases/{kb}/documents", headers=h, json={"url": web_pages["_base"] + "/delivery"}
    )
    assert r.status_code == 202, r.text
    html_doc = r.json()
    assert [d["content_type"] for d in (pdf_doc, docx_doc, md_doc, html_doc)] == ["pdf", "docx", "markdown", "html"]
    assert html_doc["source"] == "url" and html_doc["status"] == "queued"

    for doc in (pdf_doc, docx_doc, md_doc, html_doc):
        done = await wait_done(client, h, kb, doc["id"])
        assert done["status"] == "ready", done
        assert done["chunk_count"] >= 1 and done["progress"]["chunks_done"] == done["chunk_count"]

    facts = [
        ("How long is the espresso machine warranty?", "seven years", pdf_doc),
        ("Where do staff park their cars?", "level minus three", docx_doc),
        ("When do you deliver to Orkney?", "every Thursday", html_doc),
        ("How many days do I have to return shoes?", "45 days", md_doc),
    ]
    for question, answer, doc in facts:
        hits = await search(client, h, kb, question, top_k=3)
        assert hits and answer in hits[0]["text"], (question, hits)
        assert hits[0]["document_id"] == doc["id"]
    page = (await client.get(f"/v1/knowledge-bases/{kb}/documents", headers=h)).json()
    assert len(page["data"]) == 4

    # The page's navigation and footer are boilerplate, not knowledge.
    assert not any("Copyright" in hit["text"] for hit in await search(client, h, kb, "copyright Example Ltd"))


async def test_each_search_mode_answers_with_ranked_scored_passages(client, owner):
    h = owner.headers
    kb = await create_kb(client, h)
    doc = (await upload(client, h, kb, "returns.md", RETURNS_MD)).json()
    assert (await wait_done(client, h, kb, doc["id"]))["status"] == "ready"
    for mode in ("hybrid", "vector", "keyword"):
        r = await client.post(
            f"/v1/knowledge-bases/{kb}/search", headers=h, json={"query": "refund for unworn shoes", "mode": mode}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["data"] and "45 days" in body["data"][0]["text"], (mode, body)
        scores = [hit["score"] for hit in body["data"]]
        assert scores == sorted(scores, reverse=True)
        assert (body["embed_ms"] > 0) == (mode != "keyword")


async def test_urls_to_the_metadata_service_or_loopback_are_refused(client, owner):
    h = owner.headers
    kb = await create_kb(client, h)
    for url, reason in (
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://127.0.0.1:8000/v1/organization", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://10.1.2.3/", "private"),
    ):
        r = await client.post(f"/v1/knowledge-bases/{kb}/documents", headers=h, json={"url": url})
        assert r.status_code == 422, (url, r.text)
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert problem["type"].endswith("/url-not-allowed") and reason in problem["detail"], problem
    assert (await client.get(f"/v1/knowledge-bases/{kb}/documents", headers=h)).json()["data"] == []


async def test_a_page_that_does_not_exist_is_refused_with_the_servers_answer(client, owner, web_pages):
    h = owner.headers
    kb = await create_kb(client, h)
    r = await client.post(f"/v1/knowledge-bases/{kb}/documents", headers=h, json={"url": web_pages["_base"] + "/nope"})
    assert r.status_code == 422 and "404" in r.json()["detail"]


async def test_an_upload_over_the_limit_is_refused_without_being_read(client, owner):
    h = owner.headers
    kb = await create_kb(client, h)
    fifty_mb = 50 * 1024 * 1024
    sent = 0

    async def body():
        nonlocal sent
        yield (
            b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\n"
        )
        block = b"x" * (256 * 1024)
        while sent < fifty_mb:
            sent += len(block)
            yield block
        yield b"\r\n--b0undary--\r\n"

    url = f"/v1/knowledge-bases/{kb}/documents"
    content_type = {"Content-Type": "multipart/form-data; boundary=b0undary"}
    # Declared size over the limit: refused before a byte of the body is read.
    r = await client.post(url, headers={**h, **content_type, "Content-Length": str(fifty_mb + 200)}, content=body())
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert sent == 0
    # No declared size (chunked): reading stops at the limit.
    sent = 0
    r = await client.post(url, headers={**h, **content_type}, content=body())
    assert r.status_code == 413, r.text
    assert sent < UPLOAD_LIMIT + 1024 * 1024, sent
    assert (await client.get(url, headers=h)).json()["data"] == []


async def test_a_corrupt_pdf_fails_with_a_reason_and_unsupported_types_are_refused(client, owner):
    h = owner.headers
    kb = await create_kb(client, h)
    broken = WARRANTY_PDF[: len(WARRANTY_PDF) // 3]
    doc = (await upload(client, h, kb, "broken.pdf", broken, "application/pdf")).json()
    done = await wait_done(client, h, kb, doc["id"])
    assert done["status"] == "failed" and "PDF" in done["error"], done

    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    r = await upload(client, h, kb, "notes.txt", png, "text/plain")
    assert r.status_code == 415 and "image/png" in r.json()["detail"]
    r = await client.post(f"/v1/knowledge-bases/{kb}/documents", headers=h, content=b"hi")
    assert r.status_code == 415


async def test_deleting_a_document_removes_its_passages_and_reingest_gives_the_same_chunks(client, owner):
    h = owner.headers
    kb = await create_kb(client, h)
    doc = (await upload(client, h, kb, "returns.md", RETURNS_MD)).json()
    first = await wait_done(client, h, kb, doc["id"])
    r = await client.post(f"/v1/knowledge-bases/{kb}/documents/{doc['id']}/reingest", headers=h)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    again = await wait_done(client, h, kb, doc["id"])
    assert again["status"] == "ready" and again["chunk_count"] == first["chunk_count"]
    assert len(await search(client, h, kb, "return shoes refund", top_k=20)) == first["chunk_count"]

    assert (await client.delete(f"/v1/knowledge-bases/{kb}/documents/{doc['id']}", headers=h)).status_code == 204
    assert await search(client, h, kb, "return shoes refund") == []
    r = await client.get(f"/v1/knowledge-bases/{kb}/documents/{doc['id']}", headers=h)
    assert r.status_code == 404


async def test_a_knowledge_base_keeps_its_embedding_model(client, owner):
    h = owner.headers
    r = await client.post("/v1/knowledge-bases", headers=h, json={"name": "Docs"})
    kb = r.json()
    assert kb["embedding"] == {"provider": "local", "model": "all-MiniLM-L6-v2", "dimensions": 384}
    r = await client.patch(f"/v1/knowledge-bases/{kb['id']}", headers=h, json={"embedding": {"provider": "openai"}})
    assert r.status_code == 422
    r = await client.patch(f"/v1/knowledge-bases/{kb['id']}", headers=h, json={"name": "Support docs"})
    assert r.status_code == 200 and r.json()["embedding"] == kb["embedding"]
    r = await client.post(
        "/v1/knowledge-bases", headers=h, json={"name": "X", "embedding": {"provider": "local", "dimensions": 512}}
    )
    assert r.status_code == 422
    assert (await client.delete(f"/v1/knowledge-bases/{kb['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/v1/knowledge-bases/{kb['id']}", headers=h)).status_code == 404


async def test_the_end_of_ingestion_is_announced_to_the_orgs_webhooks(client, owner, web_pages):
    h = owner.headers
    r = await client.post(
        "/v1/webhooks",
        headers=h,
        json={"url": web_pages["_base"] + "/hook", "events": ["document.ready", "document.failed"]},
    )
    assert r.status_code == 201, r.text
    endpoint = r.json()["id"]
    kb = await create_kb(client, h)
    good = (await upload(client, h, kb, "returns.md", RETURNS_MD)).json()
    bad = (await upload(client, h, kb, "broken.pdf", WARRANTY_PDF[:300])).json()
    assert (await wait_done(client, h, kb, good["id"]))["status"] == "ready"
    assert (await wait_done(client, h, kb, bad["id"]))["status"] == "failed"
    deliveries = (await client.get(f"/v1/webhooks/{endpoint}/deliveries", headers=h)).json()["data"]
    assert sorted(d["event_type"] for d in deliveries) == ["document.failed", "document.ready"]
