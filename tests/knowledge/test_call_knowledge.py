"""During a call the agent answers from the organization's own documents, and only from them.

The first test runs every stage on the local models (Whisper, Qwen2.5 0.5B, hibari): the caller asks
a question only an uploaded document answers, and the agent's reply carries the answer. Automatic
context puts the passages found into the LLM's instructions, which a 0.5B model uses reliably. The
second drives the LLM through the search_knowledge_base tool (the OpenAI fake scripts the call) and
shows an agent of another organization that names our knowledge base finds nothing through it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bvrai.app import create_app
from bvrai.voice.simulator import converse
from tests.conftest import make_settings, prepare_schema
from tests.fakes.deepgram import DeepgramFake
from tests.fakes.openai import OpenAIFake, ToolCall
from tests.knowledge.conftest import create_kb, upload, wait_done
from tests.live import LiveServer, serve

STAFF_HANDBOOK = b"""# Bella Pizza staff handbook

## Opening hours

Bella Pizza opens at 11 am and closes at 10 pm every day.

## Our team

The manager of Bella Pizza is Marco Rossi. He has run the restaurant since 2019.

## Deliveries

We deliver within three miles of the restaurant; delivery costs four pounds.
"""


async def signup(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await http.post(
        "/v1/auth/signup",
        json={"email": email, "password": "long password 1", "name": "T", "organization_name": email},
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def publish(http: httpx.AsyncClient, headers: dict[str, str], spec: dict[str, Any]) -> str:
    agent = (await http.post("/v1/agents", headers=headers, json=spec)).json()
    assert "id" in agent, agent
    assert (await http.post(f"/v1/agents/{agent['id']}/publish", headers=headers)).status_code == 201
    return str(agent["id"])


@pytest.fixture
def local_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    asyncio.run(prepare_schema(database_url))
    with serve(create_app(make_settings(database_url, tmp_path))) as server:
        yield server


async def test_the_agent_answers_a_question_only_an_uploaded_document_answers(local_server):
    async with httpx.AsyncClient(base_url=local_server.base_url, timeout=60) as http:
        http.headers.update(await signup(http, "owner@example.com"))
        kb = await create_kb(http, {})
        doc = (await upload(http, {}, kb, "handbook.md", STAFF_HANDBOOK)).json()
        assert (await wait_done(http, {}, kb, doc["id"]))["status"] == "ready"
        agent_id = await publish(
            http,
            {},
            {
                "name": "Receptionist",
                "system_prompt": "You are the receptionist of Bella Pizza. Answer in one short sentence.",
                "first_message": "Hello, Bella Pizza, how can I help?",
                "knowledge_base_ids": [kb],
                "tools": [{"type": "search_knowledge_base", "mode": "auto", "top_k": 2}],
            },
        )

        _, call, transcript = await converse(http, agent_id=agent_id, lines=["Who is the manager of the restaurant?"])

    said = [(m["role"], m["content"]) for m in transcript["messages"]]
    users = [text.lower() for role, text in said if role == "user"]
    assert users and "manager" in users[0], said
    replies = [text for role, text in said if role == "assistant"][1:]
    assert replies and "Marco" in replies[0], said
    turn = call["latency"]["turns"][0]
    # The search happened inside the turn and is on its latency record.
    assert 0 < turn["knowledge_ms"] < turn["llm_first_token_ms"], turn


def answer_from_tool_result(body: dict[str, Any]) -> str:
    results = [m for m in body["messages"] if m["role"] == "tool"]
    if not results:
        return "Let me check."
    found = json.loads(results[-1]["content"]).get("results") or []
    return f"Here is what I found: {found[0]['text']}" if found else "I could not find that."


@pytest.fixture
async def cloud(database_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    await prepare_schema(database_url)
    async with DeepgramFake() as dg, OpenAIFake(default_reply=answer_from_tool_result) as llm:
        urls = {"deepgram": dg.url, "openai": llm.url + "/v1"}
        settings = make_settings(database_url, tmp_path, provider_base_urls=urls)
        with serve(create_app(settings)) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
                orgs = {}
                for name in ("ours", "theirs"):
                    headers = await signup(http, f"{name}@example.com")
                    for fake in (dg, llm):
                        body = {"provider": fake.name, "name": "k", "secret": fake.api_key}
                        assert (await http.post("/v1/credentials", headers=headers, json=body)).status_code == 201
                    orgs[name] = headers
                yield {"http": http, "deepgram": dg, "llm": llm, **orgs}


def tool_agent(kb_ids: list[str]) -> dict[str, Any]:
    return {
        "name": "Receptionist",
        "system_prompt": "You are the receptionist of Bella Pizza.",
        "first_message": "Bella Pizza, hello.",
        "transcriber": {"provider": "deepgram"},
        "llm": {"provider": "openai", "model": "gpt-4o-mini"},
        "turn": {"smart_turn": False, "vad_stop_secs": 0.4},
        "knowledge_base_ids": kb_ids,
        "tools": [{"type": "search_knowledge_base", "top_k": 2}],
    }


async def test_the_search_tool_finds_our_facts_and_nothing_for_another_org(cloud):
    http, dg, llm = cloud["http"], cloud["deepgram"], cloud["llm"]
    ours, theirs = cloud["ours"], cloud["theirs"]
    kb = await create_kb(http, ours)
    doc = (await upload(http, ours, kb, "handbook.md", STAFF_HANDBOOK)).json()
    assert (await wait_done(http, ours, kb, doc["id"]))["status"] == "ready"

    http.headers.update(ours)
    dg.say("Who is the manager?")
    llm.script(ToolCall("search_knowledge_base", {"query": "who is the manager"}))
    _, call, transcript = await converse(
        http, agent_id=await publish(http, ours, tool_agent([kb])), lines=["Who is the manager?"]
    )
    tool_line = next(m for m in transcript["messages"] if m["role"] == "tool")
    assert "Marco Rossi" in tool_line["data"]["result"]["results"][0]["text"]
    replies = [m["content"] for m in transcript["messages"] if m["role"] == "assistant"]
    assert any("Marco Rossi" in r for r in replies), replies
    assert call["latency"]["turns"][0]["knowledge_ms"] > 0

    # Another org's agent naming our knowledge base: its searches find nothing, and it cannot see the kb.
    assert (await http.get(f"/v1/knowledge-bases/{kb}", headers=theirs)).status_code == 404
    http.headers.update(theirs)
    dg.say("Who is the manager?")
    llm.script(ToolCall("search_knowledge_base", {"query": "who is the manager"}))
    _, _, transcript = await converse(
        http, agent_id=await publish(http, theirs, tool_agent([kb])), lines=["Who is the manager?"]
    )
    tool_line = next(m for m in transcript["messages"] if m["role"] == "tool")
    assert tool_line["data"]["result"] == {"results": [], "note": "nothing found"}
    assert not any("Marco" in m["content"] for m in transcript["messages"] if m["role"] == "assistant")
