"""Calls on cloud providers, each replaced by a local fake that speaks its real wire protocol:
Deepgram hears the caller, OpenAI or Anthropic thinks, ElevenLabs speaks; and when the LLM fails
mid-call, the agent's fallback takes over and the call goes on."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bvrai.app import create_app
from bvrai.voice.simulator import converse
from tests.conftest import make_settings, prepare_schema
from tests.fakes.fixtures import anthropic_fake, deepgram_fake, elevenlabs_fake, openai_fake  # noqa: F401
from tests.fakes.server import Failure
from tests.live import serve

GREETING = "Hello, Bella Pizza."


@pytest.fixture
async def cloud(database_url: str, tmp_path: Path, deepgram_fake, openai_fake, anthropic_fake, elevenlabs_fake):  # noqa: F811
    await prepare_schema(database_url)
    urls = {
        "deepgram": deepgram_fake.url,
        "openai": openai_fake.url + "/v1",
        "anthropic": anthropic_fake.url,
        "elevenlabs": elevenlabs_fake.url,
    }
    with serve(create_app(make_settings(database_url, tmp_path, provider_base_urls=urls))) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            r = await http.post(
                "/v1/auth/signup",
                json={"email": "c@example.com", "password": "long password 1", "name": "C", "organization_name": "O"},
            )
            http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            for fake in (deepgram_fake, openai_fake, anthropic_fake, elevenlabs_fake):
                body = {"provider": fake.name, "name": fake.name, "secret": fake.api_key}
                assert (await http.post("/v1/credentials", json=body)).status_code == 201
            yield http


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


async def test_a_call_on_deepgram_openai_and_elevenlabs(cloud, deepgram_fake, openai_fake, elevenlabs_fake):  # noqa: F811
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
    sent = openai_fake.chat_requests[-1]
    assert sent["model"] == "gpt-4o-mini" and sent["stream"] is True
    assert any("Bella Pizza" in str(m.get("content")) for m in sent["messages"] if m["role"] == "system")
    assert sent["messages"][-1] == {"role": "user", "content": "What time do you open today?"}
    assert elevenlabs_fake.requests, "the agent's voice came from ElevenLabs"


async def test_a_call_thinking_with_anthropic(cloud, deepgram_fake, anthropic_fake):  # noqa: F811
    deepgram_fake.say("Do you deliver?")
    anthropic_fake.script("Yes, we deliver within five miles.")
    agent_id = await agent(cloud, {"provider": "anthropic", "model": "claude-3-5-haiku-latest"})

    _, call, transcript = await converse(cloud, agent_id=agent_id, lines=["Do you deliver?"])

    assert lines_of(transcript)[1:] == [
        ("user", "Do you deliver?"),
        ("assistant", "Yes, we deliver within five miles."),
    ]
    request = anthropic_fake.requests[-1].body
    assert "Bella Pizza" in str(request["system"])
    assert call["status"] == "completed"


async def test_when_the_llm_fails_mid_call_the_fallback_answers(cloud, deepgram_fake, openai_fake, anthropic_fake):  # noqa: F811
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
    assert len(anthropic_fake.requests) == 1
