"""Controlling a live phone call: the agent (its tools) or the API hang up and transfer through
Twilio's REST API; the caller's key presses reach the LLM, and the agent's go down the line."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from tests.fakes.audio import mulaw_to_pcm16
from tests.fakes.openai import Reply, ToolCall
from tests.telephony.conftest import CALLER, OUR_NUMBER
from tests.telephony.speech import caller_line
from tests.telephony.test_twilio_inbound import wait_ended

DESK = "+14155550150"


def cloud_agent(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Front desk",
        "system_prompt": "You answer the phone at Bella Pizza.",
        "first_message": "Bella Pizza, hello.",
        "transcriber": {"provider": "deepgram", "model": "nova-3"},
        "llm": {"provider": "openai", "model": "gpt-4o-mini"},
        "voice": {"provider": "elevenlabs"},
        "turn": {"smart_turn": False, "vad_stop_secs": 0.4},
        **extra,
    }


async def incoming(phone, spec: dict[str, Any], *, greeted: bool = True):
    agent_id = await phone.agent(spec)
    await phone.number(agent_id)
    response, leg = await phone.twilio.incoming_call(
        from_=CALLER, to=OUR_NUMBER, voice_url=phone.url("/telephony/twilio/voice")
    )
    assert response.status_code == 200, response.text
    stream = await phone.twilio.connect_stream(leg, response.text)
    assert not greeted or await stream.wait_for_agent(quiet_s=0.5, timeout_s=20), "no greeting"
    call_id = (await phone.http.get("/v1/calls")).json()["data"][0]["id"]
    return leg, stream, call_id


async def say(stream, text: str) -> None:
    stream.say_mulaw(await caller_line(text))
    await stream.finished_speaking()


def updates(phone, leg) -> list[dict[str, Any]]:
    return [r.body for r in phone.twilio.requests if r.path.endswith(f"/Calls/{leg.sid}.json")]


async def test_the_agent_transfers_the_caller_with_its_tool(phone):
    fakes = phone.fakes
    fakes["deepgram"].say("Can I talk to a person please?")
    fakes["openai"].script(Reply(text="Of course.", tool_calls=[ToolCall("transfer_call", {"number": DESK})]))
    tools = [{"type": "transfer_call", "destinations": [{"number": DESK, "description": "the manager"}]}]
    leg, stream, call_id = await incoming(phone, cloud_agent(tools=tools))

    await say(stream, "Can I talk to a person please?")
    assert await stream.wait_closed(20), "Twilio should have ended the stream for the transfer"

    assert updates(phone, leg) == [{"Twiml": f"<Response><Dial>{DESK}</Dial></Response>"}]
    assert leg.transferred_to == DESK
    call = await wait_ended(phone.http, call_id)
    assert call["status"] == "completed" and call["end_reason"] == "transferred"
    events = {e["type"]: e["data"] for e in (await phone.http.get(f"/v1/calls/{call_id}/events")).json()}
    assert events["call.transferred"] == {"to": DESK}


async def test_the_end_call_tool_hangs_up_at_the_carrier(phone):
    fakes = phone.fakes
    fakes["deepgram"].say("That's all, thank you.")
    fakes["openai"].script(Reply(text="Goodbye!", tool_calls=[ToolCall("end_call", {"reason": "done"})]))
    leg, stream, call_id = await incoming(phone, cloud_agent(tools=[{"type": "end_call"}]))

    await say(stream, "That's all, thank you.")
    assert await stream.wait_closed(20)

    call = await wait_ended(phone.http, call_id)
    assert call["status"] == "completed" and call["end_reason"] == "end-call-tool"
    assert updates(phone, leg) == [{"Status": "completed"}]


async def test_the_api_hangs_up_and_transfers_live_calls(phone):
    leg, stream, call_id = await incoming(phone, cloud_agent())
    r = await phone.http.post(f"/v1/calls/{call_id}/hangup")
    assert r.status_code == 200, r.text
    assert await stream.wait_closed(10)
    assert updates(phone, leg) == [{"Status": "completed"}]
    call = await wait_ended(phone.http, call_id)
    assert call["end_reason"] == "api-hangup"
    again = await phone.http.post(f"/v1/calls/{call_id}/hangup")
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"

    response, leg = await phone.twilio.incoming_call(
        from_=CALLER, to=OUR_NUMBER, voice_url=phone.url("/telephony/twilio/voice")
    )
    stream = await phone.twilio.connect_stream(leg, response.text)
    assert await stream.wait_for_agent(quiet_s=0.3, timeout_s=20)
    call_id = (await phone.http.get("/v1/calls")).json()["data"][0]["id"]
    bad = await phone.http.post(f"/v1/calls/{call_id}/transfer", json={"number": "12"})
    assert bad.status_code == 422
    r = await phone.http.post(f"/v1/calls/{call_id}/transfer", json={"number": "+1 415 555 0150"})
    assert r.status_code == 200, r.text
    assert await stream.wait_closed(10)
    assert updates(phone, leg) == [{"Twiml": f"<Response><Dial>{DESK}</Dial></Response>"}]
    assert (await wait_ended(phone.http, call_id))["end_reason"] == "transferred"


async def test_key_presses_reach_the_llm_and_the_agent_presses_keys_too(phone):
    fakes = phone.fakes
    fakes["openai"].script(
        Reply(text="Let me dial the kitchen.", tool_calls=[ToolCall("send_dtmf", {"digits": "1"})]),
        "Done.",
    )
    _leg, stream, call_id = await incoming(phone, cloud_agent(tools=[{"type": "send_dtmf"}]))

    pressed_at = asyncio.get_running_loop().time()
    await stream.press("42#")
    assert await stream.wait_for_agent(quiet_s=1.0, timeout_s=20)
    users = [m for m in fakes["openai"].chat_requests[0]["messages"] if m["role"] == "user"]
    assert users[-1]["content"] == "DTMF: 42#"

    # The agent's key press is heard down the line as the DTMF tone of "1": 697 Hz + 1209 Hz.
    since = min(h.at for h in stream.result.heard if h.at > pressed_at)
    pcm = np.frombuffer(mulaw_to_pcm16(stream.result.agent_audio(since=since)), dtype="<i2").astype(np.float64)
    assert any(_is_dtmf_one(pcm[i : i + 800]) for i in range(0, len(pcm) - 800, 400)), "no DTMF tone heard"
    transcript = (await phone.http.get(f"/v1/calls/{call_id}/transcript")).json()["messages"]
    assert any(m["role"] == "user" and m["content"] == "DTMF: 42#" for m in transcript)
    assert any(m["role"] == "tool" and m["data"]["tool"] == "send_dtmf" for m in transcript)
    await stream.stop()


def _is_dtmf_one(window: np.ndarray) -> bool:
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    freqs = np.fft.rfftfreq(len(window), 1 / 8000)
    top = {round(f) for f in freqs[np.argsort(spectrum)[-4:]]}
    return any(abs(f - 697) < 15 for f in top) and any(abs(f - 1209) < 15 for f in top)
