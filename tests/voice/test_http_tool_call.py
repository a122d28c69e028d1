"""During a call the LLM calls the agent's http tool: the user's server gets validated, signed
arguments and its answer decides what the agent says; private and loopback URLs are refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from bvrai.app import create_app
from bvrai.voice.simulator import converse
from tests.conftest import make_settings, prepare_schema
from tests.fakes.deepgram import DeepgramFake
from tests.fakes.openai import OpenAIFake, ToolCall
from tests.live import serve

PARAMETERS = {
    "type": "object",
    "properties": {"party_size": {"type": "integer", "minimum": 1, "maximum": 12}, "time": {"type": "string"}},
    "required": ["party_size", "time"],
}


class ToolServer:
    """The user's booking service: verifies each request's signature and answers with a table."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.secret = ""
        self.url = ""

    async def book(self, request: web.Request) -> web.Response:
        body = await request.read()
        Webhook(self.secret).verify(body, dict(request.headers))  # raises on a bad signature
        self.received.append({"args": json.loads(body), "call_id": request.headers["X-BVRAI-Call-Id"]})
        return web.json_response({"confirmed": True, "table": 12})

    async def __aenter__(self) -> ToolServer:
        app = web.Application()
        app.router.add_post("/book", self.book)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/book"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


def reply_from_tool_result(body: dict[str, Any]) -> str:
    """The fake LLM's second answer is built from the tool result it was sent."""
    results = [m for m in body["messages"] if m["role"] == "tool"]
    if not results:
        return "Let me check."
    outcome = json.loads(results[-1]["content"])
    if "table" in outcome:
        return f"You are booked at table {outcome['table']}."
    return "Sorry, I could not reach the booking system."


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    await prepare_schema(database_url)
    async with DeepgramFake() as dg, OpenAIFake(default_reply=reply_from_tool_result) as llm, ToolServer() as tool:
        settings = make_settings(
            database_url,
            tmp_path,
            provider_base_urls={"deepgram": dg.url, "openai": llm.url + "/v1"},
            ssrf_allow="127.0.0.1",  # the test's tool server; 10.0.0.0/8 stays refused
        )
        app = create_app(settings)
        with serve(app) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
                r = await http.post(
                    "/v1/auth/signup",
                    json={
                        "email": "t@example.com",
                        "password": "long password 1",
                        "name": "T",
                        "organization_name": "O",
                    },
                )
                org_id = r.json()["organization"]["id"]
                http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
                for fake in (dg, llm):
                    await http.post(
                        "/v1/credentials", json={"provider": fake.name, "name": "k", "secret": fake.api_key}
                    )
                tool.secret = (await http.get("/v1/organization/signing-secret")).json()["secret"]
                assert tool.secret.startswith("whsec_") and org_id
                yield {"http": http, "deepgram": dg, "llm": llm, "tool": tool}


async def agent_with_tool(http: httpx.AsyncClient, url: str) -> str:
    spec = {
        "name": "Booker",
        "system_prompt": "You book tables at Bella Pizza.",
        "first_message": "Bella Pizza, hello.",
        "transcriber": {"provider": "deepgram"},
        "llm": {"provider": "openai", "model": "gpt-4o-mini"},
        "turn": {"smart_turn": False, "vad_stop_secs": 0.4},
        "tools": [
            {"type": "http", "name": "book_table", "description": "Book a table", "url": url, "parameters": PARAMETERS}
        ],
    }
    created = (await http.post("/v1/agents", json=spec)).json()
    assert "id" in created, created
    await http.post(f"/v1/agents/{created['id']}/publish")
    return str(created["id"])


async def test_the_tool_gets_signed_valid_arguments_and_its_answer_is_spoken(world):
    http, llm, tool = world["http"], world["llm"], world["tool"]
    world["deepgram"].say("A table for four at seven please.")
    llm.script(ToolCall("book_table", {"party_size": 4, "time": "19:00"}))
    agent_id = await agent_with_tool(http, tool.url)

    _, call, transcript = await converse(http, agent_id=agent_id, lines=["A table for four at seven please."])

    assert tool.received == [{"args": {"party_size": 4, "time": "19:00"}, "call_id": call["id"]}]
    said = [(m["role"], m["content"]) for m in transcript["messages"]]
    assert ("assistant", "You are booked at table 12.") in said
    tool_line = next(m for m in transcript["messages"] if m["role"] == "tool")
    assert tool_line["data"]["result"] == {"confirmed": True, "table": 12}
    assert llm.chat_requests[0]["tools"][0]["function"]["name"] == "book_table"


async def test_invalid_arguments_never_reach_the_tool(world):
    http, llm, tool = world["http"], world["llm"], world["tool"]
    world["deepgram"].say("A table for forty please.")
    llm.script(ToolCall("book_table", {"party_size": 40, "time": "19:00"}))
    agent_id = await agent_with_tool(http, tool.url)

    _, _, transcript = await converse(http, agent_id=agent_id, lines=["A table for forty please."])

    assert tool.received == []
    tool_line = next(m for m in transcript["messages"] if m["role"] == "tool")
    assert "invalid arguments" in tool_line["data"]["result"]["error"]


@pytest.mark.parametrize("url", ["http://10.1.2.3/book", "http://127.0.0.2:9/book"])
async def test_a_tool_on_a_private_or_loopback_address_is_refused(world, url):
    http, llm = world["http"], world["llm"]
    world["deepgram"].say("A table for two please.")
    llm.script(ToolCall("book_table", {"party_size": 2, "time": "20:00"}))
    agent_id = await agent_with_tool(http, url)

    _, _, transcript = await converse(http, agent_id=agent_id, lines=["A table for two please."])

    said = [(m["role"], m["content"]) for m in transcript["messages"]]
    assert ("assistant", "Sorry, I could not reach the booking system.") in said
    tool_line = next(m for m in transcript["messages"] if m["role"] == "tool")
    assert "not reachable" in tool_line["data"]["result"]["error"]
