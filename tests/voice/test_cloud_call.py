"""Calls on cloud providers, each replaced by a local fake that speaks its real wire protocol:
Deepgram hears the caller, OpenAI or Anthropic thinks, ElevenLabs speaks; and when the LLM fails
mid-call, the agent's fallback takes over and the call goes on."""

from __future__ import annotations

import httpx

from bvrai.voice.simulator import converse
from tests.fakes.server import Failure

GREETING = "Hello, Bella Pizza."


async def agent(http: httpx.AsyncClient, llm: dict) -> str:
    spec = {
        "name": "Cloud receptionist",
        "system_prompt": "You are the receptionist of Bella Pizza.",
        "first_message": GREETING,
        "transcriber": {"provider": "deepgram", "model": "nova-3"},
        "llm": llm,
        "voice": {"provider": "elevenlabs"},
        "turn": {"smart_turn": False, "vad_stop_secs": 0.4},
    }
    created = (await http.post("/v1/agents", json=spec)).json()
    assert "id" in created, created
    assert (await http.post(f"/v1/agents/{created['id']}/publish")).status_code == 201
    return str(created["id"])


def lines_of(transcript: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in transcript["messages"] if m["role"] != "tool"]


async def test_a_call_on_deepgram_openai_and_elevenlabs(cloud, deepgram_fake, openai_fake, elevenlabs_fake):
    deepgram_fake.say("What time do you open today?")
    openai_fake.script("We open at eleven in the morning.")
    agent_id = await agent(cloud, {"provider": "openai", "model": "gpt-4o-mini"})

    _, call, transcript = await converse(cloud, agent_id=agent_id, lines=["What time do you open today?"])

    assert lines_of(transcript) == [
        ("assistant", GREETING),
        ("user", "What time do you open today?"),
        ("assistant", "We open at eleven in the morning."),
    ]
    assert call["status"] == "completed" and len(call["latency"]["turns"]) == 1
    sent = [r for r in openai_fake.chat_requests if r.get("stream")][-1]  # the post-call analysis is not streamed
    assert sent["model"] == "gpt-4o-mini" and sent["stream"] is True
    assert any("Bella Pizza" in str(m.get("content")) for m in sent["messages"] if m["role"] == "system")
    assert sent["messages"][-1] == {"role": "user", "content": "What time do you open today?"}
    assert elevenlabs_fake.requests, "the agent's voice came from ElevenLabs"


async def test_a_call_thinking_with_anthropic(cloud, deepgram_fake, anthropic_fake):
    deepgram_fake.say("Do you deliver?")
    anthropic_fake.script("Yes, we deliver within five miles.")
    agent_id = await agent(cloud, {"provider": "anthropic", "model": "claude-haiku-4-5"})

    _, call, transcript = await converse(cloud, agent_id=agent_id, lines=["Do you deliver?"])

    assert lines_of(transcript)[1:] == [
        ("user", "Do you deliver?"),
        ("assistant", "Yes, we deliver within five miles."),
    ]
    request = [r.body for r in anthropic_fake.requests if isinstance(r.body, dict) and r.body.get("stream")][
        -1
    ]  # not the analysis
    assert "Bella Pizza" in str(request["system"])
    assert call["status"] == "completed"


async def test_when_the_llm_fails_mid_call_the_fallback_answers(cloud, deepgram_fake, openai_fake, anthropic_fake):
    deepgram_fake.say("What time do you open?", "And when do you close?")
    openai_fake.script("We open at eleven.")
    anthropic_fake.script("We close at ten at night.")
    agent_id = await agent(
        cloud, {"provider": "openai", "model": "gpt-4o-mini", "fallbacks": [{"provider": "anthropic"}]}
    )

    async def break_openai_after_first_reply(turn: int) -> None:
        if turn == 1:
            openai_fake.fail_now(Failure.ERROR)

    _, call, transcript = await converse(
        cloud,
        agent_id=agent_id,
        lines=["What time do you open?", "And when do you close?"],
        after_turn=break_openai_after_first_reply,
    )

    assert lines_of(transcript)[1:] == [
        ("user", "What time do you open?"),
        ("assistant", "We open at eleven."),
        ("user", "And when do you close?"),
        ("assistant", "We close at ten at night."),
    ]
    assert call["status"] == "completed" and call["end_reason"] == "caller-hangup"
    assert (
        len([r for r in anthropic_fake.requests if isinstance(r.body, dict) and r.body.get("stream")]) == 1
    )  # the analysis is not a turn
    events = (await cloud.get(f"/v1/calls/{call['id']}/events")).json()
    failovers = [e["data"] for e in events if e["type"] == "provider.failover"]
    assert len(failovers) == 1 and failovers[0]["stage"] == "llm"
