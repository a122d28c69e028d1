"""Every dashboard page in Debian's Chromium, with data in it: a screenshot of each in light and dark
at desktop and phone widths (artifacts/screenshots/), and axe-core's accessibility check in both
themes, which must find no serious or critical violation. Keyboard use is checked on the way."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from bvrai.kit.db import make_engine, make_sessionmaker, utcnow
from bvrai.kit.storage import LocalStorage
from tests.live import LiveServer
from tests.web.browser import BASE_ARGS, CHROMIUM, SCREENSHOTS, axe_violations, describe, screenshot_all_ways
from tests.web.seed import add_call

PASSWORD = "correct horse battery"


async def seed(live: LiveServer) -> dict[str, str]:
    """An org with a published agent (two versions), a month of calls, a key, a credential, a teammate."""
    settings = live.app.state.ctx.settings
    async with httpx.AsyncClient(base_url=live.base_url) as api:
        r = await api.post(
            "/v1/auth/signup",
            json={
                "email": "ada@example.com",
                "password": PASSWORD,
                "name": "Ada Lovelace",
                "organization_name": "Bella Pizza",
            },
        )
        body = r.json()
        api.headers["Authorization"] = f"Bearer {body['access_token']}"
        spec = {
            "name": "Receptionist",
            "system_prompt": "You are the receptionist of {{company}}. Answer in one short sentence.",
            "first_message": "Hello, Bella Pizza, how can I help?",
            "tools": [{"type": "end_call", "message": "Goodbye!"}],
        }
        agent = (await api.post("/v1/agents", json=spec)).json()
        await api.post(f"/v1/agents/{agent['id']}/publish")
        await api.patch(f"/v1/agents/{agent['id']}", json={"first_message": "Good evening, Bella Pizza!"})
        await api.post(f"/v1/agents/{agent['id']}/publish")
        await api.post("/v1/agents", json={"name": "Order taker", "system_prompt": "Take pizza orders."})
        await api.post("/v1/api-keys", json={"name": "CRM sync"})
        credential = {"provider": "openai", "name": "Production", "secret": "sk-test-1234567890"}
        await api.post("/v1/credentials", json=credential)
        await api.post("/v1/invitations", json={"email": "sam@example.com", "role": "viewer"})
    engine = make_engine(settings.db_url)
    sessions, storage = make_sessionmaker(engine), LocalStorage(settings.storage_path)
    org_id, now, first = body["organization"]["id"], utcnow(), ""
    try:
        for i in range(40):
            status = "failed" if i % 9 == 4 else "completed"
            call_id = await add_call(
                None,
                org_id=org_id,
                agent_id=agent["id"],
                status=status,
                end_reason="setup-failed" if status == "failed" else ("caller-hangup" if i % 2 else "agent-hangup"),
                direction=("web", "inbound", "outbound")[i % 3],
                created_at=now - timedelta(days=i * 0.7, minutes=i),
                duration_s=30 + (i * 17) % 200,
                latency={
                    "turns": [
                        {
                            "transcript_ms": 300 + i * 3,
                            "llm_first_token_ms": 650 + i * 9,
                            "tts_first_audio_ms": 740 + i * 9,
                            "bot_started_ms": 800 + i * 10,
                        }
                    ],
                    "p50_ms": 800 + i * 10,
                    "p90_ms": 900 + i * 12,
                },
                recording=i == 0,
                sessions=sessions,
                storage=storage,
            )
            first = first or call_id
    finally:
        await engine.dispose()
    return {"agent_id": agent["id"], "call_id": first}


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


async def check(page: Page, name: str, failures: dict[str, str]) -> None:
    """Screenshots, then axe in light and dark (their contrasts differ)."""
    await screenshot_all_ways(page, name)
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        found = await axe_violations(page)
        if found:
            failures[f"{name} ({scheme})"] = describe(found)
    await page.emulate_media(color_scheme="light")


@pytest.mark.timeout(300)
async def test_every_page_is_accessible_in_both_themes_and_photographed(
    live: LiveServer, page: Page, tmp_path: Path
) -> None:
    base = live.base_url
    failures: dict[str, str] = {}

    await page.goto(f"{base}/app/signup")
    await check(page, "signup", failures)
    await page.goto(f"{base}/app/accept-invite?token=bvr_inv_example")
    await check(page, "accept-invite", failures)
    ids = await seed(live)

    # Log in with the keyboard alone: the skip link, labels and the submit key all work.
    await page.goto(f"{base}/app/login")
    await check(page, "login", failures)
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.get_by_label("Email").focus()
    await page.keyboard.type("ada@example.com")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await expect(page.locator("#kpi-calls")).to_have_text("40")
    await page.wait_for_function("() => document.querySelectorAll('canvas').length === 4")
    await check(page, "overview", failures)

    pages = [
        ("agents", "/app/agents"),
        ("agent-editor", f"/app/agents/{ids['agent_id']}"),
        ("agent-new", "/app/agents/new"),
        ("agent-talk", f"/app/agents/{ids['agent_id']}/talk"),
        ("calls", "/app/calls"),
        ("call-detail", f"/app/calls/{ids['call_id']}"),
        ("api-keys", "/app/api-keys"),
        ("team", "/app/team"),
        ("credentials", "/app/credentials"),
        ("audit-log", "/app/audit"),
        ("not-found", "/app/calls/call_doesnotexist"),
    ]
    for name, url in pages:
        await page.goto(base + url)
        await check(page, name, failures)

    await page.goto(f"{base}/app/agents/{ids['agent_id']}/versions")
    await page.get_by_role("button", name="Show differences").click()
    await expect(page.locator("#diff .diff")).to_contain_text("Good evening")
    await check(page, "agent-versions", failures)

    await page.goto(f"{base}/app/agents/new")
    await page.get_by_label("Temperature").fill("9")
    await page.get_by_label("Tools (JSON list)").fill("[oops")
    await page.get_by_role("button", name="Create agent").click()
    await expect(page.locator("#f-tools-error")).to_contain_text("not valid JSON")
    await check(page, "agent-editor-errors", failures)

    await page.goto(f"{base}/app/calls?status=failed")
    await expect(page.locator("#call-results tbody tr").first).to_contain_text("failed")
    await check(page, "calls-filtered", failures)

    await page.goto(f"{base}/app/audit")
    await page.get_by_role("button", name="Verify the chain").click()
    await expect(page.locator("#verify-ok")).to_contain_text("Chain intact")
    await check(page, "audit-verified", failures)

    # A knowledge base from the page, and a document uploaded with its progress shown.
    await page.goto(f"{base}/app/knowledge")
    await check(page, "knowledge-empty", failures)
    await page.get_by_label("Name", exact=True).fill("Opening hours")
    await page.get_by_role("button", name="Create knowledge base").click()
    await expect(page.get_by_role("heading", name="Opening hours")).to_be_visible()
    notes = tmp_path / "hours.md"
    notes.write_text("# Opening hours\n\nBella Pizza opens at 11 am and closes at 10 pm.\n" * 30)
    await page.get_by_label("File").set_input_files(str(notes))
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("#upload-status")).to_contain_text("Uploaded hours.md")
    await expect(page.locator("#documents")).to_contain_text("hours.md")
    await expect(page.locator("#documents")).to_contain_text("ready", timeout=60_000)  # polled while indexing
    await check(page, "knowledge-base", failures)

    # The theme switch works and is remembered across pages.
    await page.goto(f"{base}/app/agents")
    await page.get_by_role("button", name=re.compile("Dark mode")).click()
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"
    await page.goto(f"{base}/app/calls")
    assert await page.evaluate("document.documentElement.dataset.theme") == "dark"

    shots = sorted(p.name for p in SCREENSHOTS.glob("*.png"))
    assert len([s for s in shots if s.startswith("overview-")]) == 4
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())


def test_screenshot_folder_is_outside_the_package() -> None:
    assert Path(SCREENSHOTS).parts[-2:] == ("artifacts", "screenshots")
