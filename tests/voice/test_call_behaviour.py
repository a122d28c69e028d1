"""How an agent conducts a call: variables in its prompt, hanging up by tool or by phrase, checking on
a silent caller and then leaving, and the call's time limit. Providers are the local fakes."""

from __future__ import annotations

import time

import httpx

from bvrai.voice.simulator import SimulatedCaller, converse, start_call, wait_until_ended
from tests.fakes.openai import Reply, ToolCall


async def agent(http: httpx.AsyncClient, **overrides: object) -> str:
    spec = {
        "name": "Receptionist",
        "system_prompt": "You are the receptionist of Bella Pizza.",
        "first_message": "Hello, Bella Pizza.",
        "transcriber": {"provider": "deepgram"},
        "llm": {"provider": "openai", "model": "gpt-4o-mini"},
        "voice": {"provider": "elevenlabs"},
        "turn": {"smart_turn": False, "vad_stop_secs": 0.4},
        **overrides,
    }
    created = (await http.post("/v1/agents", json=spec)).json()
    assert "id" in created, created
    assert (await http.post(f"/v1/agents/{created['id']}/publish")).status_code == 201
    return str(created["id"])


async def test_call_variables_fill_the_prompt_and_the_greeting_and_no_recording_when_off(
    cloud, deepgram_fake, openai_fake
):
    deepgram_fake.say("Is my order ready?")
    openai_fake.script("Yes, it is ready.")
    agent_id = await agent(
        cloud,
        system_prompt="The caller is {{name}}, order {{order}}. Missing: [{{nothing}}].",
        first_message="Hello {{name}}, welcome back.",
        recording=False,
    )

    _, call, transcript = await converse(
        cloud, agent_id=agent_id, lines=["Is my order ready?"], variables={"name": "Ann", "order": "A-17"}
    )

    assert transcript["messages"][0]["content"] == "Hello Ann, welcome back."
    system = [m for m in openai_fake.chat_requests[0]["messages"] if m["role"] == "system"]
    assert system[0]["content"] == "The caller is Ann, order A-17. Missing: []."
    assert call["has_recording"] is False
    assert (await cloud.get(f"/v1/calls/{call['id']}/recording")).status_code == 404


async def test_the_end_call_tool_hangs_up_after_the_goodbye(cloud, deepgram_fake, openai_fake):
    deepgram_fake.say("That's all, thanks.")
    openai_fake.script(Reply(text="Goodbye!", tool_calls=[ToolCall("end_call", {"reason": "caller is done"})]))
    agent_id = await agent(cloud, tools=[{"type": "end_call"}])

    _, call, transcript = await converse(cloud, agent_id=agent_id, lines=["That's all, thanks."])

    assert call["status"] == "completed" and call["end_reason"] == "end-call-tool"
    said = [(m["role"], m["content"]) for m in transcript["messages"]]
    assert ("assistant", "Goodbye!") in said and ("tool", "end_call") in said
    assert len([r for r in openai_fake.chat_requests if r.get("stream")]) == 1  # no second turn after the hang-up
    events = (await cloud.get(f"/v1/calls/{call['id']}/events")).json()
    assert [e["type"] for e in events][-1] == "call.ended"


async def test_saying_an_end_call_phrase_hangs_up(cloud, deepgram_fake, openai_fake):
    deepgram_fake.say("Thanks, bye.")
    openai_fake.script("Have a lovely evening, goodbye for now.")
    agent_id = await agent(cloud, end_call_phrases=["goodbye for now"])

    _, call, _ = await converse(cloud, agent_id=agent_id, lines=["Thanks, bye."])

    assert call["end_reason"] == "end-call-phrase"


async def test_a_silent_caller_is_checked_on_once_then_the_agent_hangs_up(cloud, openai_fake):
    openai_fake.script("Are you still there?")
    agent_id = await agent(cloud, silence_timeout_s=5)
    started = await start_call(cloud, agent_id=agent_id)
    caller = SimulatedCaller(
        websocket_url=started["websocket_url"], token=started["token"], call_id=started["call"]["id"]
    )
    begun = time.monotonic()
    async with caller:
        call = await wait_until_ended(cloud, started["call"]["id"], timeout_s=30)
    assert call["end_reason"] == "silence-timeout", call
    assert 10 <= time.monotonic() - begun < 25
    said = [
        (m["role"], m["content"]) for m in (await cloud.get(f"/v1/calls/{call['id']}/transcript")).json()["messages"]
    ]
    assert ("assistant", "Are you still there?") in said
    assert said[-1][0] == "assistant" and "Goodbye" in said[-1][1]


async def test_a_call_ends_at_its_time_limit(cloud, openai_fake):
    openai_fake.script("Are you still there?")
    agent_id = await agent(cloud, max_duration_s=10, silence_timeout_s=9)
    started = await start_call(cloud, agent_id=agent_id)
    caller = SimulatedCaller(
        websocket_url=started["websocket_url"], token=started["token"], call_id=started["call"]["id"]
    )
    async with caller:
        call = await wait_until_ended(cloud, started["call"]["id"], timeout_s=30)
    assert call["end_reason"] == "max-duration", call
    assert 10 <= call["duration_s"] < 20
    said = (await cloud.get(f"/v1/calls/{call['id']}/transcript")).json()["messages"]
    assert any("time limit" in m["content"] for m in said if m["role"] == "assistant"), said


async def test_without_a_scripted_greeting_the_llm_opens_and_a_hangup_message_ends_the_call(cloud, openai_fake):
    openai_fake.script("Good evening, Bella Pizza here, what can I get you?")
    agent_id = await agent(cloud, first_message=None)
    started = await start_call(cloud, agent_id=agent_id)
    caller = SimulatedCaller(
        websocket_url=started["websocket_url"], token=started["token"], call_id=started["call"]["id"]
    )
    async with caller:
        await caller.wait_for_agent(timeout_s=20)
        await caller.send_message({"type": "hangup"})
        call = await wait_until_ended(cloud, started["call"]["id"], timeout_s=20)
    assert call["end_reason"] == "caller-hangup" and call["status"] == "completed"
    messages = (await cloud.get(f"/v1/calls/{call['id']}/transcript")).json()["messages"]
    assert messages[0]["content"] == "Good evening, Bella Pizza here, what can I get you?"
