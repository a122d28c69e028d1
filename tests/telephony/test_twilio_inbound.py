"""Someone phones the pizzeria's Twilio number and talks to its agent, on the local models; forged
webhooks and stolen or replayed stream tokens get nowhere."""

from __future__ import annotations

import asyncio
import io
import time
import wave

from tests.fakes.twilio import parse_stream
from tests.fakes.twilio_media import MediaStreamClient
from tests.telephony.conftest import CALLER, OUR_NUMBER
from tests.telephony.speech import caller_line, transcribe
from tests.voice.conftest import RECEPTIONIST


async def wait_ended(http, call_id: str, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        call = (await http.get(f"/v1/calls/{call_id}")).json()
        if call["status"] in ("completed", "busy", "no-answer", "failed", "canceled") or time.monotonic() > deadline:
            return dict(call)
        await asyncio.sleep(0.2)


async def wait_for_messages(http, count: int, timeout_s: float = 60.0) -> None:
    """Until the call's transcript has ``count`` lines: the server writes an agent line once its
    audio has all gone out, so the caller has heard it by then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        calls = (await http.get("/v1/calls")).json()["data"]
        if calls:
            messages = (await http.get(f"/v1/calls/{calls[0]['id']}/transcript")).json()["messages"]
            if len([m for m in messages if m["role"] != "tool"]) >= count:
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the transcript never reached {count} messages")


async def test_a_caller_is_greeted_understood_and_answered_and_the_call_is_kept(phone):
    # Temperature 0: the small local model answers the same way every run.
    agent_id = await phone.agent({**RECEPTIONIST, "llm": {"provider": "local", "temperature": 0}})
    await phone.number(agent_id)
    question = await caller_line("What time do you open today?")

    response, leg = await phone.twilio.incoming_call(
        from_=CALLER, to=OUR_NUMBER, voice_url=phone.url("/telephony/twilio/voice")
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    url, parameters = parse_stream(response.text)
    assert url.endswith("/telephony/twilio/media") and set(parameters) == {"token"}

    stream = await phone.twilio.connect_stream(leg, response.text)
    # The server writes each agent turn once its audio has gone out: wait for that, then for quiet.
    await wait_for_messages(phone.http, 1)
    await asyncio.sleep(0.5)
    greeting = stream.result.agent_audio()
    stream.say_mulaw(question)
    asked_at = stream.spoke_at[-1]
    await stream.finished_speaking()
    await wait_for_messages(phone.http, 3)
    await asyncio.sleep(0.5)
    reply = stream.result.agent_audio(since=asked_at)
    await stream.stop()
    await phone.twilio.send_status(leg, phone.url("/telephony/twilio/status"), "completed", CallDuration="9")

    heard_greeting, heard_reply = await transcribe(greeting), await transcribe(reply)
    print(f"greeting: {heard_greeting!r}; reply: {heard_reply!r}")
    assert "bella" in heard_greeting.lower() and "help" in heard_greeting.lower()  # 8 kHz: "pizza" may be "pisa"
    server_heard = (
        await phone.http.get(f"/v1/calls/{(await phone.http.get('/v1/calls')).json()['data'][0]['id']}/transcript")
    ).json()
    assert any(w in heard_reply.lower() for w in ("11", "eleven")), (heard_reply, server_heard["messages"])
    assert stream.result.protocol_errors == []
    assert stream.result.events("mark") and stream.result.marks_echoed, "playback is tracked with marks"

    calls = (await phone.http.get("/v1/calls")).json()["data"]
    assert len(calls) == 1
    call = await wait_ended(phone.http, calls[0]["id"])
    assert call["status"] == "completed" and call["direction"] == "inbound"
    assert call["carrier"] == "twilio" and call["carrier_call_id"] == leg.sid
    assert call["from_number"] == CALLER and call["to_number"] == OUR_NUMBER
    assert call["duration_s"] == 9.0  # the carrier's count
    assert call["latency"]["turns"] and call["latency"]["p50_ms"] > 0
    transcript = (await phone.http.get(f"/v1/calls/{call['id']}/transcript")).json()["messages"]
    said = [(m["role"], m["content"].lower()) for m in transcript if m["role"] != "tool"]
    assert said[0] == ("assistant", RECEPTIONIST["first_message"].lower())
    assert said[1][0] == "user" and "open" in said[1][1]
    assert said[2][0] == "assistant"
    assert call["has_recording"]
    recording = await phone.http.get(f"/v1/calls/{call['id']}/recording")
    with wave.open(io.BytesIO(recording.content)) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() / wav.getframerate() > 3
    events = [e["type"] for e in (await phone.http.get(f"/v1/calls/{call['id']}/events")).json()]
    assert events[0] == "call.status" and "call.started" in events and events.count("call.ended") == 1

    # The caller's number is stored encrypted, and found through its blind index.
    found = (await phone.http.get("/v1/calls", params={"phone": CALLER})).json()["data"]
    assert [c["id"] for c in found] == [call["id"]]
    assert (await phone.http.get("/v1/calls", params={"phone": "+14155550999"})).json()["data"] == []


async def test_a_webhook_with_a_wrong_signature_is_refused_and_creates_nothing(phone):
    agent_id = await phone.agent({"name": "A", "system_prompt": "Be brief."})
    await phone.number(agent_id)
    response, _ = await phone.twilio.incoming_call(
        from_=CALLER, to=OUR_NUMBER, voice_url=phone.url("/telephony/twilio/voice"), signature="bm90IGEgc2lnbmF0dXJl"
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    # Signed with another account's token: refused too.
    other = phone.twilio.validator
    phone.twilio.validator = type(other)("another-accounts-token")
    response, _ = await phone.twilio.incoming_call(
        from_=CALLER, to=OUR_NUMBER, voice_url=phone.url("/telephony/twilio/voice")
    )
    phone.twilio.validator = other
    assert response.status_code == 403
    assert (await phone.http.get("/v1/calls")).json()["data"] == []


async def test_a_stream_with_a_forged_or_replayed_token_is_refused(phone):
    agent_id = await phone.agent({"name": "A", "system_prompt": "Be brief.", "first_message": "Hi."})
    await phone.number(agent_id)
    media_url = phone.server.ws_url + "/telephony/twilio/media"

    forged = MediaStreamClient(
        media_url, account_sid=phone.twilio.account_sid, call_sid="CA" + "0" * 32, custom_parameters={"token": "x.y.z"}
    )
    await forged.connect()
    assert await forged.wait_closed(10)
    assert forged.result.close_code == 4401 and not forged.result.heard

    response, leg = await phone.twilio.incoming_call(
        from_=CALLER, to=OUR_NUMBER, voice_url=phone.url("/telephony/twilio/voice")
    )
    first = await phone.twilio.connect_stream(leg, response.text)
    assert await first.wait_for_agent(quiet_s=0.3, timeout_s=40)
    _, parameters = parse_stream(response.text)
    replay = MediaStreamClient(
        media_url, account_sid=phone.twilio.account_sid, call_sid=leg.sid, custom_parameters=parameters
    )
    await replay.connect()
    assert await replay.wait_closed(10)
    assert replay.result.close_code == 4401 and "already used" in (replay.result.close_reason or "")
    await first.stop()
