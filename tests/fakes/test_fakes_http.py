"""The fakes speak the documented wire protocols (shared/reference/protocols.md sections 4-6), checked
with a plain HTTP client rather than through the adapters."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.fakes.anthropic import AnthropicFake, ToolUse
from tests.fakes.elevenlabs import ElevenLabsFake
from tests.fakes.openai import OpenAIFake, ToolCall
from tests.fakes.server import Failure


async def sse(response: aiohttp.ClientResponse) -> list[tuple[str | None, str]]:
    """(event, data) pairs of a server-sent event stream."""
    events: list[tuple[str | None, str]] = []
    event: str | None = None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            events.append((event, line[6:]))
            event = None
    return events


# --- OpenAI -------------------------------------------------------------------------------------------------------


async def test_openai_rejects_a_missing_or_wrong_key_with_its_error_body(openai_fake: OpenAIFake) -> None:
    url = openai_fake.url + "/v1/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body) as r:
            assert r.status == 401
            error = (await r.json())["error"]
            assert error["type"] == "invalid_request_error" and error["code"] is None
            assert error["message"].startswith("You didn't provide an API key.")
        async with http.post(url, json=body, headers={"Authorization": "Bearer sk-nope12345"}) as r:
            assert r.status == 401
            error = (await r.json())["error"]
            assert error["code"] == "invalid_api_key"
            assert "sk-nope12345" not in error["message"]


async def test_openai_streams_tool_call_deltas_then_usage_then_done(openai_fake: OpenAIFake) -> None:
    openai_fake.script(ToolCall("get_weather", {"city": "Paris"}, id="call_9xQ"))
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"Authorization": f"Bearer {openai_fake.api_key}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(openai_fake.url + "/v1/chat/completions", json=body, headers=headers) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        events = await sse(r)
    assert all(event is None for event, _ in events), "OpenAI SSE has no event: lines"
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls[0] == {
        "index": 0,
        "id": "call_9xQ",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert all(set(c) == {"index", "function"} for c in calls[1:]), "id/type/name only in the first fragment"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        (
            [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_x", "content": "{}"}],
            "must be a response to a preceeding message with 'tool_calls'",
        ),
        (
            [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "user", "content": "and?"},
            ],
            "did not have response messages: call_a",
        ),
        ([{"role": "robot", "content": "hi"}], "Invalid value: 'robot'"),
    ],
)
async def test_openai_checks_the_conversation_like_the_real_service(
    openai_fake: OpenAIFake, messages: list[dict[str, Any]], problem: str
) -> None:
    headers = {"Authorization": f"Bearer {openai_fake.api_key}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            openai_fake.url + "/v1/chat/completions", json={"model": "m", "messages": messages}, headers=headers
        ) as r,
    ):
        assert r.status == 400
        assert problem in (await r.json())["error"]["message"]


async def test_openai_stream_options_need_stream(openai_fake: OpenAIFake) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": True}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            openai_fake.url + "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {openai_fake.api_key}"},
        ) as r,
    ):
        assert r.status == 400


# --- Anthropic ------------------------------------------------------------------------------------------------------


async def test_anthropic_needs_its_key_and_version_headers(anthropic_fake: AnthropicFake) -> None:
    url = anthropic_fake.url + "/v1/messages"
    body = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers={"x-api-key": "wrong", "anthropic-version": "2023-06-01"}) as r:
            assert r.status == 401
            payload = await r.json()
            assert payload["type"] == "error" and payload["error"]["type"] == "authentication_error"
            assert payload["request_id"].startswith("req_") and r.headers["request-id"] == payload["request_id"]
        async with http.post(url, json=body, headers={"x-api-key": anthropic_fake.api_key}) as r:
            assert r.status == 400
            assert "anthropic-version" in (await r.json())["error"]["message"]
        del body["max_tokens"]
        headers = {"x-api-key": anthropic_fake.api_key, "anthropic-version": "2023-06-01"}
        async with http.post(url, json=body, headers=headers) as r:
            assert r.status == 400
            assert (await r.json())["error"] == {
                "type": "invalid_request_error",
                "message": "max_tokens: Field required",
            }


async def test_anthropic_streams_events_in_the_documented_order(anthropic_fake: AnthropicFake) -> None:
    from tests.fakes.anthropic import Reply

    anthropic_fake.script(Reply(text="Let me check.", tool_uses=[ToolUse("get_weather", {"city": "Paris"})]))
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "Weather?"}],
    }
    headers = {"x-api-key": anthropic_fake.api_key, "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(anthropic_fake.url + "/v1/messages", json=body, headers=headers) as r,
    ):
        events = await sse(r)
    names = [e for e, _ in events]
    data = [json.loads(d) for _, d in events]
    assert all(d["type"] == e for e, d in zip(names, data, strict=True)), "data repeats the event name in type"
    collapsed = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
    assert collapsed == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    tool_start = next(d for d in data if d["type"] == "content_block_start" and d["index"] == 1)
    assert tool_start["content_block"]["input"] == {}
    partial = "".join(
        d["delta"]["partial_json"] for d in data if d["type"] == "content_block_delta" and d["index"] == 1
    )
    assert json.loads(partial) == {"city": "Paris"}
    assert next(d for d in data if d["type"] == "message_delta")["delta"]["stop_reason"] == "tool_use"


async def test_anthropic_refuses_a_tool_result_without_its_tool_use(anthropic_fake: AnthropicFake) -> None:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "14"}]},
        ],
    }
    headers = {"x-api-key": anthropic_fake.api_key, "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(anthropic_fake.url + "/v1/messages", json=body, headers=headers) as r,
    ):
        assert r.status == 400
        assert "tool_use_id" in (await r.json())["error"]["message"]


# --- ElevenLabs HTTP ---------------------------------------------------------------------------------------------


async def test_elevenlabs_http_errors_have_its_detail_bodies(elevenlabs_fake: ElevenLabsFake) -> None:
    url = elevenlabs_fake.url + "/v1/text-to-speech/voice1/stream?output_format=pcm_16000"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"text": "hi"}, headers={"xi-api-key": "nope"}) as r:
            assert r.status == 401
            assert (await r.json())["detail"]["status"] == "invalid_api_key"
        async with http.post(url, json={}, headers={"xi-api-key": elevenlabs_fake.api_key}) as r:
            assert r.status == 422
            assert (await r.json())["detail"][0]["loc"] == ["body", "text"]
        async with http.post(url, json={"text": "Hello there."}, headers={"xi-api-key": elevenlabs_fake.api_key}) as r:
            assert r.status == 200
            audio = await r.read()
    assert len(audio) == round(len("Hello there.") * 0.040 * 16000) * 2


# --- the failure switch -------------------------------------------------------------------------------------------


async def test_the_failure_switch_errors_drops_and_stalls(openai_fake: OpenAIFake) -> None:
    url = openai_fake.url + "/v1/chat/completions"
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {openai_fake.api_key}"}
    async with aiohttp.ClientSession() as http:
        openai_fake.fail_now(Failure.ERROR)
        async with http.post(url, json=body, headers=headers) as r:
            assert r.status == 500
            assert (await r.json())["error"]["type"] == "server_error"
        openai_fake.fail_now(Failure.DROP)
        with pytest.raises(aiohttp.ClientError):
            async with http.post(url, json=body, headers=headers) as r:
                await r.read()
        openai_fake.fail_now(Failure.STALL)
        request = asyncio.ensure_future(http.post(url, json=body, headers=headers))
        await asyncio.sleep(0.2)
        assert not request.done()
        openai_fake.recover()
        async with await request as r:
            assert r.status == 200
