"""OpenAI-compatible LLM against the fake: streamed text, a tool call round trip, auth errors."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import ErrorFrame, LLMRunFrame

from bvrai.agents.spec import LLMConfig
from bvrai.providers.base import MissingCredential, ProviderAuthError, ProviderContext, ProviderUnavailable
from bvrai.providers.cloud.openai import openai_llm
from tests.fakes.openai import OpenAIFake, Reply, ToolCall
from tests.providers.cloud.llm_conversation import Conversation


def ctx(fake: OpenAIFake, secret: str | None = None, **extra: object) -> ProviderContext:
    return ProviderContext(
        org_id="org_test",
        secret=secret or fake.api_key,
        base_url=fake.url + "/v1",
        extra={"max_retries": 0, "system_instruction": "You are a phone receptionist.", **extra},
    )


def config(**overrides: object) -> LLMConfig:
    return LLMConfig.model_validate({"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.3, **overrides})


async def test_a_context_streams_back_as_text(openai_fake: OpenAIFake) -> None:
    openai_fake.script("Hello! How can I help you today?")
    conversation = Conversation(openai_llm(config(max_tokens=120), ctx(openai_fake)))
    async with conversation.harness() as h:
        replies = await conversation.run(h)
    assert replies == ["Hello! How can I help you today?"]
    assert len([f for f in conversation.tap.frames if type(f).__name__ == "LLMTextFrame"]) > 3, "streamed in pieces"
    sent = openai_fake.chat_requests[0]
    assert sent["model"] == "gpt-4o-mini"
    assert sent["stream"] is True
    assert sent["temperature"] == 0.3
    assert sent["max_tokens"] == 120  # a base_url means a compatible server: max_tokens, not max_completion_tokens
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert openai_fake.last_request.headers["Authorization"] == f"Bearer {openai_fake.api_key}"


async def test_a_tool_call_reaches_the_handler_and_its_result_goes_back(openai_fake: OpenAIFake) -> None:
    openai_fake.script(ToolCall("get_weather", {"city": "Paris"}, id="call_9xQ"), "It's 14 degrees and cloudy.")
    conversation = Conversation(openai_llm(config(), ctx(openai_fake)))
    async with conversation.harness() as h:
        replies = await conversation.run(h)
    assert conversation.tool_calls == [{"city": "Paris"}]
    assert replies[-1] == "It's 14 degrees and cloudy."
    assert len(openai_fake.chat_requests) == 2
    follow_up = openai_fake.chat_requests[1]["messages"]
    call_turn = next(m for m in follow_up if m["role"] == "assistant" and m.get("tool_calls"))
    assert call_turn["tool_calls"][0]["id"] == "call_9xQ"
    assert call_turn["tool_calls"][0]["function"]["name"] == "get_weather"
    tool_turn = next(m for m in follow_up if m["role"] == "tool")
    assert tool_turn["tool_call_id"] == "call_9xQ"
    assert '"temp_c": 14' in tool_turn["content"]


async def test_a_bad_key_is_a_provider_auth_error(openai_fake: OpenAIFake) -> None:
    conversation = Conversation(openai_llm(config(), ctx(openai_fake, secret="sk-wrong")))
    async with conversation.harness() as h:
        await h.queue(LLMRunFrame())
        errors = await h.wait_for(ErrorFrame, upstream=True)
    error = errors[0].exception
    assert isinstance(error, ProviderAuthError)
    assert error.provider == "llm:openai"
    assert "401" in str(error)
    assert "sk-wrong" not in errors[0].error


async def test_a_server_error_is_provider_unavailable(openai_fake: OpenAIFake) -> None:
    openai_fake.script(Reply(status=503))
    conversation = Conversation(openai_llm(config(), ctx(openai_fake)))
    async with conversation.harness() as h:
        await h.queue(LLMRunFrame())
        errors = await h.wait_for(ErrorFrame, upstream=True)
    assert isinstance(errors[0].exception, ProviderUnavailable)


def test_no_secret_is_a_missing_credential() -> None:
    with pytest.raises(MissingCredential):
        openai_llm(config(), ProviderContext(org_id="org_test"))


async def test_the_system_instruction_opens_the_conversation(openai_fake: OpenAIFake) -> None:
    conversation = Conversation(openai_llm(config(), ctx(openai_fake)))
    async with conversation.harness() as h:
        await conversation.run(h)
    assert openai_fake.chat_requests[0]["messages"][:2] == [
        {"role": "system", "content": "You are a phone receptionist."},
        {"role": "user", "content": "What's the weather in Paris?"},
    ]
