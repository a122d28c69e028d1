"""The pizzeria's agent phones customers: through the fake Twilio REST API, answered, busy or
unanswered, each reported by Twilio's status callbacks; and never more calls at once than allowed."""

from __future__ import annotations

import asyncio

import httpx

from bvrai.app import create_app
from tests.conftest import make_settings
from tests.live import serve
from tests.telephony.conftest import OUR_NUMBER
from tests.telephony.test_twilio_inbound import wait_ended

CUSTOMER = "+14155550142"
CLOUD_AGENT = {
    "name": "Order follow-up",
    "system_prompt": "You call customers of Bella Pizza about their order, {{name}}.",
    "first_message": "Hello {{name}}, this is Bella Pizza about your order.",
    "transcriber": {"provider": "deepgram", "model": "nova-3"},
    "llm": {"provider": "openai", "model": "gpt-4o-mini"},
    "voice": {"provider": "elevenlabs"},
    "turn": {"smart_turn": False, "vad_stop_secs": 0.4},
}


async def setup(phone) -> tuple[str, str]:
    agent_id = await phone.agent(CLOUD_AGENT)
    number = await phone.number(None)
    return agent_id, number["id"]


async def place(phone, agent_id: str, number_id: str, to: str = CUSTOMER, **extra):
    body = {"agent_id": agent_id, "phone_number_id": number_id, "to": to, "variables": {"name": "Ada"}, **extra}
    return await phone.http.post("/v1/calls", json=body)


async def statuses(phone, call_id: str) -> list[str]:
    events = (await phone.http.get(f"/v1/calls/{call_id}/events")).json()
    return [e["data"]["status"] for e in events if e["type"] == "call.status"]


async def test_an_answered_outbound_call_runs_the_agent_and_follows_the_status_callbacks(phone):
    agent_id, number_id = await setup(phone)
    r = await place(phone, agent_id, number_id, to="+1 415 555 0142", machine_detection=True)
    assert r.status_code == 201, r.text
    call = r.json()
    assert call["status"] == "queued" and call["direction"] == "outbound"
    assert call["to_number"] == CUSTOMER and call["from_number"] == OUR_NUMBER
    assert call["carrier_call_id"].startswith("CA") and call["variables"] == {"name": "Ada"}

    sent = phone.twilio.last_request
    assert sent.path == f"/2010-04-01/Accounts/{phone.twilio.account_sid}/Calls.json"
    assert sent.body["To"] == CUSTOMER and sent.body["From"] == OUR_NUMBER
    assert sent.body["Url"] == phone.url(f"/telephony/twilio/answer?call_id={call['id']}")
    assert sent.body["StatusCallback"] == phone.url(f"/telephony/twilio/status?call_id={call['id']}")
    assert sent.body["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert sent.body["MachineDetection"] == "Enable"

    leg = await phone.twilio.answered()
    assert leg.sid == call["carrier_call_id"]
    assert await leg.stream.wait_for_agent(quiet_s=0.5, timeout_s=20), "the agent did not speak when answered"
    await asyncio.sleep(1.0)
    await leg.stream.stop()  # the customer hangs up

    ended = await wait_ended(phone.http, call["id"])
    assert ended["status"] == "completed" and ended["answered_by"] == "human"
    assert ended["duration_s"] is not None and ended["duration_s"] >= 1
    assert leg.statuses() == ["queued", "ringing", "in-progress", "completed"]
    assert await statuses(phone, call["id"]) == ["queued", "ringing", "in-progress", "completed"]
    transcript = (await phone.http.get(f"/v1/calls/{call['id']}/transcript")).json()["messages"]
    assert transcript[0]["content"] == "Hello Ada, this is Bella Pizza about your order."
    assert leg.stream.result.protocol_errors == []


async def test_busy_and_unanswered_calls_end_without_a_conversation(phone):
    agent_id, number_id = await setup(phone)
    phone.twilio.callee("+14155550143", "busy")
    phone.twilio.callee("+14155550144", "no-answer")
    busy = (await place(phone, agent_id, number_id, to="+14155550143")).json()
    unanswered = (await place(phone, agent_id, number_id, to="+14155550144")).json()

    for call, outcome in ((busy, "busy"), (unanswered, "no-answer")):
        ended = await wait_ended(phone.http, call["id"])
        assert ended["status"] == outcome and ended["end_reason"] == outcome
        assert ended["duration_s"] == 0 and not ended["has_recording"]
        assert await statuses(phone, call["id"]) == ["queued", "ringing", outcome]
        assert (await phone.http.get(f"/v1/calls/{call['id']}/transcript")).json()["messages"] == []


async def test_a_repeated_request_with_the_same_idempotency_key_dials_once(phone):
    agent_id, number_id = await setup(phone)
    phone.twilio.callee(CUSTOMER, "no-answer")
    headers = {"Idempotency-Key": "order-1234-reminder"}
    body = {"agent_id": agent_id, "phone_number_id": number_id, "to": CUSTOMER}
    first = await phone.http.post("/v1/calls", json=body, headers=headers)
    second = await phone.http.post("/v1/calls", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert len([r for r in phone.twilio.requests if r.path.endswith("/Calls.json")]) == 1


async def test_the_carrier_refusing_a_number_is_a_validation_problem(phone):
    agent_id, number_id = await setup(phone)
    r = await place(phone, agent_id, number_id, to="+999")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["to"]
    r = await phone.http.post("/v1/calls", json={"agent_id": agent_id, "phone_number_id": "pn_nope", "to": CUSTOMER})
    assert r.status_code == 404
    assert (await phone.http.get("/v1/calls")).json()["data"] == []


async def test_calls_over_the_organizations_limit_get_a_429(phone):
    phone.server.app.state.ctx.settings.max_concurrent_calls = 1
    agent_id, number_id = await setup(phone)
    phone.twilio.ring_s = 1.0
    phone.twilio.callee(CUSTOMER, "no-answer")
    first = await place(phone, agent_id, number_id)
    assert first.status_code == 201
    second = await place(phone, agent_id, number_id, to="+14155550143")
    assert second.status_code == 429
    problem = second.json()
    assert problem["type"].endswith("/concurrent-call-limit") and "limit" in problem["detail"]
    assert second.headers["retry-after"]
    await wait_ended(phone.http, first.json()["id"])
    assert (await place(phone, agent_id, number_id, to="+14155550143")).status_code == 201


async def test_the_limit_holds_across_processes_through_redis(phone, database_url, tmp_path):
    """Two servers (an api process each, say) share the org's count in Redis."""
    redis_url = "redis://127.0.0.1:6379/0"
    first = phone.server.app.state.ctx.settings
    first.redis_url, first.max_concurrent_calls = redis_url, 1
    agent_id, number_id = await setup(phone)
    phone.twilio.ring_s = 1.0
    phone.twilio.callee(CUSTOMER, "no-answer")
    other = make_settings(
        database_url,
        tmp_path / "other",
        redis_url=redis_url,
        max_concurrent_calls=1,
        provider_base_urls={"twilio": phone.twilio.url},
    )
    with serve(create_app(other)) as second:
        second.app.state.ctx.settings.public_base_url = phone.server.base_url
        async with httpx.AsyncClient(base_url=second.base_url, headers=phone.http.headers, timeout=30) as elsewhere:
            placed = await place(phone, agent_id, number_id)
            assert placed.status_code == 201
            body = {"agent_id": agent_id, "phone_number_id": number_id, "to": "+14155550143"}
            refused = await elsewhere.post("/v1/calls", json=body)
            assert refused.status_code == 429, refused.text
            await wait_ended(phone.http, placed.json()["id"])
            assert (await elsewhere.post("/v1/calls", json=body)).status_code == 201
