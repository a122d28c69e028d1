"""The same inbound call on Telnyx, Plivo and Vonage, each in its own webhook and media format: a
forged webhook is refused, a signed one connects the caller to the agent, who greets, hears the
question and answers it; the call is kept with its transcript."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes.plivo import PlivoFake
from tests.fakes.telnyx import TelnyxFake
from tests.fakes.vonage import VonageFake
from tests.telephony.conftest import CALLER, OUR_NUMBER
from tests.telephony.speech import to_line
from tests.telephony.test_twilio_control import cloud_agent
from tests.telephony.test_twilio_inbound import wait_ended

QUESTION, ANSWER = "What time do you open today?", "We open at eleven."


@pytest.fixture
async def telnyx_fake() -> AsyncIterator[TelnyxFake]:
    async with TelnyxFake() as fake:
        yield fake


@pytest.fixture
async def plivo_fake() -> AsyncIterator[PlivoFake]:
    async with PlivoFake() as fake:
        yield fake


async def connect_number(phone, carrier: str, secret: str, extra: dict[str, Any]) -> None:
    cred = await phone.http.post(
        "/v1/credentials", json={"provider": carrier, "name": carrier, "secret": secret, "extra": extra}
    )
    assert cred.status_code == 201, cred.text
    agent_id = await phone.agent(cloud_agent())
    body = {"number": OUR_NUMBER, "carrier": carrier, "credential_id": cred.json()["id"], "inbound_agent_id": agent_id}
    r = await phone.http.post("/v1/phone-numbers", json=body)
    assert r.status_code == 201, r.text
    phone.fakes["deepgram"].say(QUESTION)
    phone.fakes["openai"].script(ANSWER)


async def converse(phone, stream, question_audio: bytes) -> dict[str, Any]:
    """Greeting, the caller's question, the answer, hang-up: the call as the API then shows it."""
    assert await stream.wait_for_agent(quiet_s=0.5, timeout_s=45), "no greeting"
    stream.say(question_audio)
    asked_at = stream.spoke_at[-1]
    await stream.finished_speaking()
    assert await stream.wait_for_agent(quiet_s=0.8, timeout_s=45), "no answer"
    assert stream.result.agent_audio(since=asked_at), "the answer was heard on the line"
    await stream.stop()
    assert stream.result.protocol_errors == []
    calls = (await phone.http.get("/v1/calls")).json()["data"]
    assert len(calls) == 1
    call = await wait_ended(phone.http, calls[0]["id"])
    transcript = (await phone.http.get(f"/v1/calls/{call['id']}/transcript")).json()["messages"]
    said = [(m["role"], m["content"]) for m in transcript]
    # Greeted first; the question heard and answered. (On a loaded machine the turn detector can
    # split the caller's turn, so the order of the later lines is the session's, not the carrier's.)
    assert said[0] == ("assistant", "Bella Pizza, hello.")
    assert ("user", QUESTION) in said and ("assistant", ANSWER) in said
    assert call["status"] == "completed" and call["direction"] == "inbound"
    assert call["from_number"] == CALLER and call["to_number"] == OUR_NUMBER
    return call


async def question_mulaw() -> bytes:
    from bvrai.voice.caller_speech import synthesize

    return to_line(await asyncio.to_thread(synthesize, QUESTION))


async def test_a_telnyx_call(phone, telnyx_fake):
    phone.server.app.state.ctx.settings.provider_base_urls["telnyx"] = telnyx_fake.url
    await connect_number(phone, "telnyx", telnyx_fake.api_key, {"public_key": telnyx_fake.public_key})
    url = phone.url("/telephony/telnyx/voice")

    forged = await telnyx_fake.incoming_call(from_=CALLER, to=OUR_NUMBER, webhook_url=url, signed=False)
    assert forged.status_code == 403 and (await phone.http.get("/v1/calls")).json()["data"] == []

    r = await telnyx_fake.incoming_call(from_=CALLER, to=OUR_NUMBER, webhook_url=url)
    assert r.status_code == 200, r.text
    stream = await asyncio.wait_for(telnyx_fake.streams.get(), 10)
    call = await converse(phone, stream, await question_mulaw())

    answered = next(body for action, body in telnyx_fake.calls[stream.call_control_id].actions if action == "answer")
    assert answered["stream_url"].startswith(phone.server.ws_url + "/telephony/telnyx/media?token=")
    assert answered["stream_bidirectional_mode"] == "rtp" and answered["stream_bidirectional_codec"] == "PCMU"
    assert call["carrier"] == "telnyx" and call["carrier_call_id"] == stream.call_control_id


async def test_a_plivo_call(phone, plivo_fake):
    phone.server.app.state.ctx.settings.provider_base_urls["plivo"] = plivo_fake.url
    await connect_number(phone, "plivo", plivo_fake.auth_token, {"auth_id": plivo_fake.auth_id})
    url = phone.url("/telephony/plivo/voice")

    forged, _ = await plivo_fake.incoming_call(from_=CALLER, to=OUR_NUMBER, answer_url=url, signed=False)
    assert forged.status_code == 403 and (await phone.http.get("/v1/calls")).json()["data"] == []

    r, call_id = await plivo_fake.incoming_call(from_=CALLER, to=OUR_NUMBER, answer_url=url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml"), r.text
    stream = await plivo_fake.connect_stream(call_id, r.text)
    call = await converse(phone, stream, await question_mulaw())
    assert call["carrier"] == "plivo" and call["carrier_call_id"] == call_id
    assert any(m["event"] == "playAudio" for m in stream.result.messages)


async def test_a_vonage_call(phone):
    vonage = VonageFake()
    await connect_number(
        phone, "vonage", vonage.signature_secret, {"application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}
    )
    url = phone.url("/telephony/vonage/answer")

    forged, _ = await vonage.incoming_call(from_=CALLER, to=OUR_NUMBER, answer_url=url, signed=False)
    assert forged.status_code == 403 and (await phone.http.get("/v1/calls")).json()["data"] == []

    r, call_uuid = await vonage.incoming_call(from_=CALLER, to=OUR_NUMBER, answer_url=url)
    assert r.status_code == 200, r.text
    ncco = json.loads(r.text)
    stream = await vonage.connect(ncco)
    from bvrai.voice.caller_speech import synthesize

    call = await converse(phone, stream, await asyncio.to_thread(synthesize, QUESTION))
    assert call["carrier"] == "vonage" and call["carrier_call_id"] == call_uuid
