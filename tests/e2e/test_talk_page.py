"""A person talks to an agent from the talk page: Chromium's fake microphone speaks a WAV file, the
page streams it to the agent, shows the conversation as it goes, and hangs up; the call's record
holds what was said."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import httpx
import pytest
from playwright.async_api import ConsoleMessage, Page, async_playwright, expect

from bvrai.voice.caller_speech import synthesize
from bvrai.voice.simulator import wait_until_ended
from bvrai.voice.web_serializer import WEB_SAMPLE_RATE
from tests.live import LiveServer
from tests.voice.conftest import RECEPTIONIST, publish

CHROMIUM = Path("/usr/bin/chromium")
LINE = "What time do you open today?"
# The fake mic starts playing when the page opens it, just before the call connects. The caller waits
# out the greeting, which a cold server starts only after loading its models (~3.5 s here, more on a
# busy machine), so the greeting comes first; then it stays quiet long enough for the agent to take
# its turn and answer.
LEAD_S = 10.0
TAIL_S = 15.0


def write_caller_wav(path: Path, text: str) -> Path:
    speech = synthesize(text)
    silence = b"\x00\x00" * WEB_SAMPLE_RATE
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(WEB_SAMPLE_RATE)
        wav.writeframes(silence * int(LEAD_S) + speech + silence * int(TAIL_S))
    return path


def chromium_args(wav: Path) -> list[str]:
    return [
        "--no-sandbox",  # the tests run as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",  # without %noloop the caller repeats itself
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]


# Counts the agent's audio the page schedules for playback: headless, nothing else can hear it.
COUNT_PLAYBACK = """
window.playedSeconds = 0;
const start = AudioBufferSourceNode.prototype.start;
AudioBufferSourceNode.prototype.start = function (...args) {
  window.playedSeconds += this.buffer ? this.buffer.duration : 0;
  return start.apply(this, args);
};
"""


async def hold_call(page: Page, base_url: str, agent_id: str, token: str) -> None:
    await page.add_init_script(COUNT_PLAYBACK)
    await page.goto(f"{base_url}/app/talk/{agent_id}")
    token_field = page.get_by_label("Access token or API key")
    await token_field.fill(token)
    await token_field.press("Enter")  # the keyboard alone starts a call
    await expect(page.get_by_role("status")).to_have_text("In the call: speak any time.", timeout=15_000)

    transcript = page.locator("#transcript")
    # In this order, so that the answer found after the caller's line cannot be the greeting.
    greeting = transcript.locator("li").first
    await expect(greeting).to_have_attribute("data-role", "assistant", timeout=20_000)
    await expect(greeting).to_contain_text("Bella Pizza")
    await expect(transcript.locator("li[data-role=user]").first).to_contain_text("open", timeout=30_000)
    # The answer shows once all of its audio has played; on a busy 2-core machine the model is slow.
    answer = transcript.locator("li[data-role=user] ~ li[data-role=assistant]").first
    await expect(answer).to_be_visible(timeout=40_000)
    await expect(page.locator("#latency li").first).to_contain_text("ms voice to voice")

    assert await page.evaluate("window.playedSeconds") > 3  # the greeting and the answer, at least

    await page.get_by_role("button", name="Hang up").click()
    await expect(page.get_by_role("status")).to_have_text("You hung up.")


@pytest.fixture
def chromium() -> Path:
    # Fail, never skip: a browser test that quietly does not run proves nothing.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)"
    return CHROMIUM


@pytest.mark.timeout(90)
async def test_a_caller_talks_to_an_agent_from_the_talk_page(
    chromium: Path, live: LiveServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    agent_id = await publish(http, RECEPTIONIST)
    wav = await asyncio.to_thread(write_caller_wav, tmp_path / "caller.wav", LINE)
    token = http.headers["Authorization"].removeprefix("Bearer ")

    problems: list[str] = []  # script errors and CSP refusals (a blocked WebSocket shows up here)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), headless=True, args=chromium_args(wav))
        try:
            page = await browser.new_page()
            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(str(error)))
            await hold_call(page, live.base_url, agent_id, token)
        finally:
            await browser.close()
    assert problems == []

    calls = (await http.get("/v1/calls", params={"agent_id": agent_id})).json()["data"]
    assert len(calls) == 1
    call = await wait_until_ended(http, calls[0]["id"])
    assert call["status"] == "completed" and call["direction"] == "web"
    messages = (await http.get(f"/v1/calls/{call['id']}/transcript")).json()["messages"]
    said = [(m["role"], m["content"].lower()) for m in messages]
    assert said[0] == ("assistant", "hello, bella pizza, how can i help?"), said
    users = [i for i, (role, text) in enumerate(said) if role == "user" and "open" in text]
    assert users, said
    assert any(role == "assistant" and text for role, text in said[users[0] + 1 :]), said
