"""A new user's first session in the dashboard, in Debian's Chromium: sign up, build an agent in the
editor, publish it, talk to it with a fake microphone fed from a WAV file, find the call in the list,
open it, play the recording, read the transcript and the latency waterfall; then create an API key
(shown once) and invite a viewer, who sees no edit controls."""

from __future__ import annotations

import asyncio
import re
import wave
from pathlib import Path

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright, expect

from bvrai.providers.local import warm_up
from bvrai.voice.caller_speech import synthesize
from bvrai.voice.web_serializer import WEB_SAMPLE_RATE
from tests.e2e.test_talk_page import COUNT_PLAYBACK, LINE, chromium_args
from tests.live import LiveServer
from tests.web.browser import CHROMIUM

PASSWORD = "correct horse battery"
# The caller waits out the greeting (the models are loaded before the call, so it starts at once).
LEAD_S, TAIL_S = 8, 15


def write_caller_wav(path: Path) -> Path:
    silence = b"\x00\x00" * WEB_SAMPLE_RATE
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(WEB_SAMPLE_RATE)
        wav.writeframes(silence * LEAD_S + synthesize(LINE) + silence * TAIL_S)
    return path


async def sign_up(page: Page, base_url: str) -> None:
    await page.goto(f"{base_url}/app/signup")
    await page.get_by_label("Your name").fill("Ada Lovelace")
    await page.get_by_label("Email").fill("ada@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Organization name").fill("Bella Pizza")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="No agents yet")).to_be_visible()


async def build_agent(page: Page) -> str:
    await page.get_by_role("link", name="Create your first agent").click()
    await page.get_by_label("Name", exact=True).fill("Receptionist")
    await page.get_by_label("System prompt").fill(
        "You are the receptionist of Bella Pizza. Answer in one short sentence. "
        "We are open from 11 am to 10 pm every day."
    )
    await page.get_by_label("First message").fill("Hello, Bella Pizza, how can I help?")
    # A mistake first: the spec's own validation answers next to the field.
    await page.get_by_label("Temperature").fill("3")
    await page.get_by_role("button", name="Create agent").click()
    await expect(page.locator("#f-llm-temperature-error")).to_contain_text("less than or equal to 2")
    await page.get_by_label("Temperature").fill("0.2")
    await page.get_by_role("button", name="Create agent").click()
    await expect(page.get_by_role("status")).to_contain_text("Agent created")
    await page.get_by_role("button", name="Publish").click()
    await expect(page.get_by_text("v1 published")).to_be_visible()
    match = re.search(r"/app/agents/(agt_[a-z0-9]+)", page.url)
    assert match, page.url
    return match.group(1)


async def talk(page: Page) -> None:
    await page.get_by_role("link", name="Talk to this agent").click()
    await page.get_by_role("button", name="Start call").click()
    status = page.locator("#status")
    await expect(status).to_have_text("In the call: speak any time.", timeout=15_000)
    transcript = page.locator("#transcript")
    greeting = transcript.locator("li").first
    await expect(greeting).to_have_attribute("data-role", "assistant", timeout=20_000)
    await expect(greeting).to_contain_text("Bella Pizza")
    await expect(transcript.locator("li[data-role=user]").first).to_contain_text("open", timeout=30_000)
    answer = transcript.locator("li[data-role=user] ~ li[data-role=assistant]").first
    await expect(answer).to_be_visible(timeout=40_000)
    await expect(page.locator("#latency li").first).to_contain_text("ms voice to voice")
    await page.get_by_role("button", name="Hang up").click()
    await expect(status).to_have_text("You hung up.")
    await expect(page.get_by_role("link", name="Open this call's record")).to_be_visible()


async def inspect_call(page: Page, base_url: str, agent_id: str) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Calls").click()
    rows = page.locator("#call-results tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Receptionist")
    # The call is written as the session ends: wait until the list says it completed.
    for _ in range(50):
        if "completed" in (await rows.first.inner_text()):
            break
        await asyncio.sleep(0.3)
        await page.reload()
    await expect(rows.first).to_contain_text("completed")
    await page.get_by_label("Agent", exact=True).select_option(agent_id)  # the filter narrows, htmx swaps
    await expect(page).to_have_url(re.compile(f"agent_id={agent_id}"))
    await rows.first.get_by_role("link").click()

    await expect(page.get_by_role("heading", name=re.compile("^Call call_"))).to_be_visible()
    lines = page.locator("#call-transcript button.line")
    await expect(lines.first).to_contain_text("Bella Pizza")
    await expect(page.locator("#call-transcript")).to_contain_text("open")
    bars = page.locator("#waterfall li")
    await expect(bars.first).to_be_visible()
    await expect(bars.first.locator(".seg.stt")).to_have_count(1)
    await expect(bars.first.locator(".seg.llm")).to_have_count(1)
    await expect(bars.first.locator(".seg.tts")).to_have_count(1)

    audio = page.locator("audio#recording")
    duration = await audio.evaluate(
        "a => new Promise(r => a.readyState >= 1 ? r(a.duration)"
        " : a.addEventListener('loadedmetadata', () => r(a.duration)))"
    )
    assert duration > 5, duration
    # Click the caller's line: the player seeks to it and plays.
    user_line = page.locator("#call-transcript li[data-role=user] button.line").first
    seek_ms = int(await user_line.get_attribute("data-seek-ms") or "0")
    await user_line.click()
    await page.wait_for_function("() => !document.getElementById('recording').paused")
    await page.wait_for_timeout(400)
    at = await audio.evaluate("a => a.currentTime")
    assert seek_ms / 1000 <= at < seek_ms / 1000 + 3, (seek_ms, at)
    await expect(user_line).to_have_class(re.compile("playing"))


async def create_api_key(page: Page, base_url: str) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    await expect(page.get_by_role("heading", name="No API keys")).to_be_visible()
    await page.get_by_label("Key name").fill("CRM sync")
    await page.get_by_role("button", name="Create key").click()
    key = await page.locator("#new-key-value").inner_text()
    assert key.startswith("bvr_sk_")
    async with httpx.AsyncClient(base_url=base_url) as api:
        r = await api.get("/v1/agents", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.json()["data"][0]["name"] == "Receptionist"
    assert page.url.endswith("/app/api-keys")  # created in place: a reload cannot create it twice
    await page.reload()
    await expect(page.get_by_role("cell", name="CRM sync", exact=True)).to_have_count(1)
    assert key not in await page.content()


async def viewer_sees_no_edit_controls(page: Page, base_url: str, agent_id: str) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    await page.get_by_label("Email").fill("vera@example.com")
    await page.get_by_label("Role").select_option("viewer")
    await page.get_by_role("button", name="Create invitation").click()
    link = (await page.locator("#invite-link").inner_text()).strip()
    assert link.startswith(f"{base_url}/app/accept-invite?token=bvr_inv_")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Log in to BVRAI")).to_be_visible()

    await page.goto(link)  # the invitee opens the link
    await page.get_by_label("Your name").fill("Vera")
    await page.get_by_label("Password").fill("vera password 1")
    await page.get_by_role("button", name="Join").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await page.goto(f"{base_url}/app/agents")
    await expect(page.get_by_role("link", name="Receptionist", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="New agent")).to_have_count(0)
    await page.get_by_role("link", name="Receptionist", exact=True).click()
    await expect(page.get_by_text("You have read-only access to agents.")).to_be_visible()
    for name in ("Save draft", "Publish", "Delete agent"):
        await expect(page.get_by_role("button", name=name)).to_have_count(0)
    await expect(page.get_by_label("System prompt")).to_be_disabled()
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Credentials")).to_have_count(0)
    await expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)


@pytest.mark.timeout(180)
async def test_a_new_user_builds_an_agent_talks_to_it_and_reviews_the_call(live: LiveServer, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    wav = await asyncio.to_thread(write_caller_wav, tmp_path / "caller.wav")
    await warm_up(cache_dir=live.app.state.ctx.settings.model_cache_path)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "favicon" not in message.text:
            problems.append(message.text)

    async with async_playwright() as pw:
        args = [*chromium_args(wav), "--autoplay-policy=no-user-gesture-required"]
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            await page.add_init_script(COUNT_PLAYBACK)
            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(str(error)))

            await sign_up(page, live.base_url)
            agent_id = await build_agent(page)
            await talk(page)
            assert await page.evaluate("window.playedSeconds") > 3
            await inspect_call(page, live.base_url, agent_id)
            await create_api_key(page, live.base_url)
            await viewer_sees_no_edit_controls(page, live.base_url, agent_id)
        finally:
            await browser.close()
    # The 422 of the deliberate mistake is the only console error a page may log.
    assert [p for p in problems if "422" not in p] == [], problems
