"""The caller talks over a long answer: the agent stops at once and remembers only what was heard."""

from __future__ import annotations

import asyncio

from bvrai.voice.caller_speech import synthesize
from bvrai.voice.simulator import SimulatedCaller, start_call, wait_until_ended
from bvrai.voice.web_serializer import WEB_SAMPLE_RATE
from tests.voice.conftest import publish, speech_onset_s

LONG_GREETING = (
    "Hello and welcome to Bella Pizza. "
    "Tonight we have a special on our wood fired margherita with fresh basil. "
    "We also have a four cheese pizza, a spicy salami pizza, and a vegetable pizza with grilled peppers. "
    "All pizzas come with a free drink if you order before eight o'clock. "
    "How can I help you this evening?"
)


async def test_the_agent_stops_within_300_ms_and_keeps_only_what_was_heard(http):
    agent_id = await publish(
        http,
        {"name": "Talker", "system_prompt": "You work at Bella Pizza; answer briefly.", "first_message": LONG_GREETING},
    )
    started = await start_call(http, agent_id=agent_id)
    caller = SimulatedCaller(
        websocket_url=started["websocket_url"], token=started["token"], call_id=started["call"]["id"]
    )
    interruption = await _synth("Sorry, what time do you open?")
    async with caller:
        # Let the greeting play for a while, then talk over it.
        while sum(len(h.audio) for h in caller.result.heard) < WEB_SAMPLE_RATE * 2 * 5:
            await caller.wait_for_agent(quiet_s=0, timeout_s=0.05)
        caller.say_audio(interruption)
        speech_start = caller.result.spoke_at[-1] + speech_onset_s(interruption)
        await caller.finished_speaking()
        await caller.wait_for_agent(timeout_s=30)

    # Playback stops when the last chunk sent before the barge-in runs out, or earlier, when the
    # client is told to drop what it still has queued.
    before_reply = [h for h in caller.result.heard if h.at < speech_start + 1.0]
    last = max(before_reply, key=lambda h: h.at)
    clears = [m["at"] for m in caller.result.messages if m["type"] == "clear" and m["at"] > speech_start]
    stopped_at = min([last.at + len(last.audio) / (WEB_SAMPLE_RATE * 2), *clears])
    print(f"agent audio stopped {1000 * (stopped_at - speech_start):.0f} ms after the caller started speaking")
    assert stopped_at - speech_start <= 0.3
    assert any(m["type"] == "clear" for m in caller.result.messages)

    await wait_until_ended(http, started["call"]["id"])
    transcript = (await http.get(f"/v1/calls/{started['call']['id']}/transcript")).json()["messages"]
    greeting = transcript[0]
    print(f"the caller heard: {greeting['content']!r}")
    assert greeting["role"] == "assistant" and greeting["interrupted"] is True
    # Cut at a word, not at a sentence: the first sentence (2.6 s of audio) and the start of the second,
    # which the caller talks over ~2.5 s in, but not the end of the second (~3.7 s in), word for word.
    assert LONG_GREETING.startswith(greeting["content"] + " ")
    assert greeting["content"].startswith("Hello and welcome to Bella Pizza. Tonight")
    assert "basil" not in greeting["content"]


async def _synth(text: str) -> bytes:
    return await asyncio.to_thread(synthesize, text)
