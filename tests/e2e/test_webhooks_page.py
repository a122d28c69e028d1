"""The webhooks pages in Chromium: add an endpoint pointing at a receiver on 127.0.0.1 (allow-listed
here), send a test event, watch it arrive in the delivery log, click Redeliver; both pages are
photographed and pass axe-core in both themes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema
from tests.e2e.test_dashboard_pages import check
from tests.live import LiveServer, serve
from tests.web.browser import BASE_ARGS, CHROMIUM
from tests.webhooks.receiver import Receiver

PASSWORD = "correct horse battery"


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    asyncio.run(prepare_schema(database_url))
    settings = make_settings(database_url, tmp_path, ssrf_allow="127.0.0.1", webhook_retry_scale=0.001, job_poll_s=0.1)
    with serve(create_app(settings)) as server:
        yield server


@pytest.fixture
async def page(live: LiveServer) -> AsyncIterator[Page]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=BASE_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            yield await context.new_page()
        finally:
            await browser.close()


@pytest.mark.timeout(180)
async def test_a_webhook_from_the_page_gets_a_test_event_and_a_redelivery(live: LiveServer, page: Page) -> None:
    base = live.base_url
    async with httpx.AsyncClient(base_url=base) as api:
        r = await api.post(
            "/v1/auth/signup",
            json={"email": "ada@example.com", "password": PASSWORD, "name": "Ada", "organization_name": "Bella Pizza"},
        )
        assert r.status_code == 201, r.text
    failures: dict[str, str] = {}
    await page.goto(f"{base}/app/login")
    await page.get_by_label("Email").fill("ada@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("link", name="Webhooks").click()
    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    await check(page, "webhooks-empty", failures)

    async with Receiver() as receiver:
        await page.get_by_label("Endpoint URL").fill(receiver.url)
        await page.get_by_label("call.ended").check()
        await page.get_by_role("button", name="Add endpoint").click()
        secret = page.locator("#new-webhook-secret")
        await expect(secret).to_contain_text("whsec_")
        receiver.secret = await secret.inner_text()
        await check(page, "webhooks", failures)

        await page.locator("#new-webhook").get_by_role("link").click()
        await page.get_by_role("button", name="Send a test event").click()
        log = page.locator("#deliveries")
        await expect(log).to_contain_text("webhook.test")
        await expect(log).to_contain_text("succeeded", timeout=20_000)  # polled while pending
        await expect(log).to_contain_text("200 ·")
        assert len(receiver.requests) == 1 and receiver.requests[0].verified
        await check(page, "webhook-detail", failures)

        await page.get_by_role("button", name="Redeliver").click()
        await expect(page.locator("#notice")).to_have_text("Redelivery queued.")
        await expect(log.locator("tbody tr")).to_have_count(2)
        await expect(log.locator(".badge.ok")).to_have_count(2, timeout=20_000)
        assert len(receiver.requests) == 2 and receiver.requests[1].verified
        assert receiver.requests[1].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]

    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())
