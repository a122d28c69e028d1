"""When a call ends, the agent's analysis plan runs with its LLM (here the fake OpenAI server): a
summary, a success verdict, the caller's sentiment and schema-valid structured data, shown by the API
and sent as call.analyzed; an answer that breaks the schema is retried once, then recorded as failed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema
from tests.fakes.fixtures import openai_fake  # noqa: F401
from tests.fakes.openai import OpenAIFake
from tests.polling import eventually
from tests.webhooks.conftest import published_agent, run_call
from tests.webhooks.receiver import Receiver

SCHEMA = {
    "type": "object",
    "properties": {
        "pizza": {"type": "string"},
        "quantity": {"type": "integer", "minimum": 1},
    },
    "required": ["pizza", "quantity"],
}
PLAN = {
    "summary": True,
    "structured_data_schema": SCHEMA,
    "success_rubric": "The caller placed an order.",
}
LINES = [
    ("assistant", "Bella Pizza, what can I get you?"),
    ("user", "Two margheritas please."),
    ("assistant", "Two margheritas, ready in twenty minutes."),
    ("user", "Great, thank you!"),
]
VERDICT = {
    "summary": "The caller ordered two margherita pizzas.",
    "success": True,
    "success_reason": "An order was placed.",
    "sentiment": "positive",
}


@pytest.fixture
async def shop(database_url: str, tmp_path: Path, openai_fake: OpenAIFake) -> AsyncIterator[Any]:  # noqa: F811
    await prepare_schema(database_url)
    settings = make_settings(
        database_url,
        tmp_path,
        provider_base_urls={"openai": openai_fake.url + "/v1"},
        ssrf_allow="127.0.0.1",
        job_poll_s=0.1,
    )
    application = create_app(settings)
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as client,
    ):
        r = await client.post(
            "/v1/auth/signup",
            json={"email": "o@example.com", "password": "correct horse battery", "name": "O", "organization_name": "P"},
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        body = {"provider": "openai", "name": "openai", "secret": openai_fake.api_key}
        assert (await client.post("/v1/credentials", headers=headers, json=body)).status_code == 201
        yield application, client, headers


async def analysed(client: httpx.AsyncClient, headers: dict[str, str], call_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        r = await client.get(f"/v1/calls/{call_id}/analysis", headers=headers)
        return r.json() if r.status_code == 200 and r.json()["status"] != "pending" else None

    return await eventually(done, timeout_s=30)


async def agent(client: httpx.AsyncClient, headers: dict[str, str], **spec: Any) -> str:
    llm = {"provider": "openai", "model": "gpt-4o-mini"}
    return await published_agent(client, headers, llm=llm, analysis=PLAN, **spec)


async def test_a_finished_call_gets_a_summary_a_verdict_and_valid_structured_data(
    shop: Any,
    openai_fake: OpenAIFake,  # noqa: F811
) -> None:
    app, client, headers = shop
    async with Receiver() as receiver:
        agent_id = await agent(client, headers, webhook_url=receiver.url)
        receiver.secret = (await client.get("/v1/organization/signing-secret", headers=headers)).json()["secret"]
        openai_fake.script(json.dumps(VERDICT), '```json\n{"pizza": "margherita", "quantity": 2}\n```')
        call_id = await run_call(app, client, headers, agent_id, LINES)

        analysis = await analysed(client, headers, call_id)
        assert analysis["status"] == "completed", analysis
        assert analysis["summary"] == VERDICT["summary"]
        assert analysis["success"] is True and analysis["success_reason"] == "An order was placed."
        assert analysis["sentiment"] == "positive"
        assert analysis["structured_data"] == {"pizza": "margherita", "quantity": 2}
        assert analysis["structured_data_status"] == "valid" and analysis["llm"] == "openai:gpt-4o-mini"

        prompts = openai_fake.chat_requests
        assert len(prompts) == 2
        assert "Caller: Two margheritas please." in prompts[0]["messages"][-1]["content"]
        assert "The caller placed an order." in prompts[0]["messages"][-1]["content"]
        assert '"quantity"' in prompts[1]["messages"][-1]["content"]

        async def told() -> list[dict[str, Any]]:
            return receiver.events("call.analyzed")

        (event,) = await eventually(told)
        assert event["data"]["call_id"] == call_id and event["data"]["structured_data"]["quantity"] == 2
        assert all(r.verified for r in receiver.requests)


async def test_an_answer_that_breaks_the_schema_is_retried_once_then_recorded_as_failed(
    shop: Any,
    openai_fake: OpenAIFake,  # noqa: F811
) -> None:
    app, client, headers = shop
    agent_id = await agent(client, headers)
    openai_fake.script(
        json.dumps(VERDICT),
        '{"pizza": "margherita", "quantity": "two"}',  # breaks the schema: quantity is a string
        '{"pizza": "margherita", "quantity": 0}',  # still breaks it: below the minimum
    )
    call_id = await run_call(app, client, headers, agent_id, LINES)

    analysis = await analysed(client, headers, call_id)
    assert analysis["status"] == "completed" and analysis["summary"] == VERDICT["summary"]
    assert analysis["structured_data"] is None and analysis["structured_data_status"] == "failed"
    assert analysis["structured_data_error"] == "quantity: 0 is less than the minimum of 1"
    retry = openai_fake.chat_requests[2]["messages"]
    assert retry[-2] == {"role": "assistant", "content": '{"pizza": "margherita", "quantity": "two"}'}
    assert "'two' is not of type 'integer'" in retry[-1]["content"]
    assert len(openai_fake.chat_requests) == 3  # one verdict, one answer, one retry: no more


async def test_a_retry_that_fixes_the_data_is_kept(shop: Any, openai_fake: OpenAIFake) -> None:  # noqa: F811
    app, client, headers = shop
    agent_id = await agent(client, headers)
    openai_fake.script(json.dumps(VERDICT), "Sure! Two margheritas.", '{"pizza": "margherita", "quantity": 2}')
    call_id = await run_call(app, client, headers, agent_id, LINES)
    analysis = await analysed(client, headers, call_id)
    assert analysis["structured_data"] == {"pizza": "margherita", "quantity": 2}
    assert analysis["structured_data_status"] == "valid"


async def test_unended_and_unanswered_calls_have_no_analysis(shop: Any) -> None:
    app, client, headers = shop
    agent_id = await agent(client, headers)
    call = (await client.post("/v1/web-calls", headers=headers, json={"agent_id": agent_id})).json()["call"]
    r = await client.get(f"/v1/calls/{call['id']}/analysis", headers=headers)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert isinstance(app, FastAPI)
