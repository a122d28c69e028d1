"""The caller talks over a long greeting on the phone: the server tells Twilio to drop the audio it
still has queued (``clear``), sends no more of that greeting, and knows from the marks how much of
it the caller heard."""

from __future__ import annotations

import asyncio

from tests.fakes.openai import Reply
from tests.telephony.speech import caller_line
from tests.telephony.test_twilio_control import cloud_agent, incoming
from tests.telephony.test_twilio_inbound import wait_ended
from tests.voice.test_barge_in import LONG_GREETING


async def test_talking_over_the_agent_clears_twilios_buffer_and_stops_that_reply(phone):
    fakes = phone.fakes
    fakes["deepgram"].say("Sorry, what time do you open?")
    fakes["openai"].script(Reply(text="We open at eleven."))
    interruption = await caller_line("Sorry, what time do you open?")
    _leg, stream, call_id = await incoming(phone, cloud_agent(first_message=LONG_GREETING), greeted=False)
    # Let the greeting play for three seconds, then talk over it.
    deadline = asyncio.get_running_loop().time() + 20
    while len(stream.result.agent_audio()) < 8000 * 3 and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)

    stream.say_mulaw(interruption)
    spoke_at = stream.spoke_at[-1]
    speech_end = spoke_at + len(interruption) / 8000
    await stream.finished_speaking()
    assert await stream.wait_for_agent(quiet_s=1.0, timeout_s=20), "the agent should answer the interruption"

    clears = [m["at"] for m in stream.result.events("clear") if m["at"] > spoke_at]
    assert clears, "Twilio was never told to drop the queued greeting"
    cleared_at = clears[0]
    print(f"clear sent {1000 * (cleared_at - spoke_at):.0f} ms after the caller started talking")
    assert cleared_at - spoke_at < 1.0
    # Between the clear and the end of the caller's line nothing more of the greeting arrives (one
    # 40 ms chunk already on the wire is allowed); the answer only starts after the caller's turn.
    leaked = [h for h in stream.result.heard if cleared_at < h.at < speech_end]
    assert sum(len(h.audio) for h in leaked) <= 320, f"{len(leaked)} chunks of the greeting after the clear"
    assert any(h.at > speech_end for h in stream.result.heard), "the agent's answer came"
    assert stream.result.protocol_errors == []

    await stream.stop()
    call = await wait_ended(phone.http, call_id)
    events = {e["type"]: e["data"] for e in (await phone.http.get(f"/v1/calls/{call['id']}/events")).json()}
    played = events["playback.interrupted"]
    print(f"playback at the barge-in: {played}")
    assert 0 < played["audio_played_ms"] < played["audio_queued_ms"]
    transcript = (await phone.http.get(f"/v1/calls/{call['id']}/transcript")).json()["messages"]
    greeting = transcript[0]
    # Only what was spoken before the barge-in is kept: the greeting is cut short.
    assert greeting["role"] == "assistant" and greeting["content"].startswith("Hello and welcome to Bella Pizza.")
    assert LONG_GREETING.startswith(greeting["content"].strip()) and len(greeting["content"]) < len(LONG_GREETING) - 40
