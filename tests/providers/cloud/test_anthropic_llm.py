"""Anthropic LLM against the fake: streamed text, a tool_use round trip, auth errors."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import ErrorFrame, LLMRunFrame

from bvrai.agents.spec import LLMConfig
from bvrai.providers.base import MissingCredential, ProviderAuthError, ProviderContext, ProviderUnavailable
from bvrai.providers.cloud.anthropic import anthropic_llm
from tests.fakes.anthropic import AnthropicFake, Reply, ToolUse
from tests.providers.cloud.llm_conversation import Conversation


def ctx(fake: AnthropicFake, secret: str | None = None) -> ProviderContext:
    return ProviderContext(
        org_id="org_test",
        secret=secret or fake.api_key,
        base_url=fake.url,
        extra={"max_retries": 0, "system_instruction": "You are a phone receptionist."},
    )


def config(**overrides: object) -> LLMConfig:
    return LLMConfig.model_validate(
        {"provider": "anthropic", "model": "claude-haiku-4-5", "temperature": 0.3, "max_tokens": 200, **overrides}
    )


async def test_a_context_streams_back_as_text(anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.script("Hello! How can I help you today?")
    conversation = Conversation(anthropic_llm(config(), ctx(anthropic_fake)))
    async with conversation.harness() as h:
        replies = await conversation.run(h)
    assert replies == ["Hello! How can I help you today?"]
    sent = anthropic_fake.message_requests[0]
    assert sent["model"] == "claude-haiku-4-5"
    assert sent["thinking"] == {"type": "disabled"}  # pipecat's low-latency default for this model
    assert sent["max_tokens"] == 200
    assert sent["temperature"] == 0.3
    assert sent["stream"] is True
    assert sent["system"] == "You are a phone receptionist."
    assert sent["messages"] == [{"role": "user", "content": "What's the weather in Paris?"}]
    assert sent["tools"][0]["name"] == "get_weather"
    headers = anthropic_fake.last_request.headers
    assert headers["x-api-key"] == anthropic_fake.api_key
    assert headers["anthropic-version"] == "2023-06-01"


async def test_a_tool_use_reaches_the_handler_and_its_result_goes_back(anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.script(
        Reply(text="Let me check.", tool_uses=[ToolUse("get_weather", {"city": "Paris"}, id="toolu_01AbC")]),
        "It's 14 degrees and cloudy.",
    )
    conversation = Conversation(anthropic_llm(config(), ctx(anthropic_fake)))
    async with conversation.harness() as h:
        replies = await conversation.run(h, replies=2)
    assert conversation.tool_calls == [{"city": "Paris"}]
    assert replies[-1] == "It's 14 degrees and cloudy."
    follow_up = anthropic_fake.message_requests[1]["messages"]
    uses = [b for m in follow_up if m["role"] == "assistant" for b in m["content"] if b.get("type") == "tool_use"]
    assert uses == [{"type": "tool_use", "id": "toolu_01AbC", "name": "get_weather", "input": {"city": "Paris"}}]
    results = [b for m in follow_up if m["role"] == "user" and isinstance(m["content"], list) for b in m["content"]]
    result = next(b for b in results if b.get("type") == "tool_result")
    assert result["tool_use_id"] == "toolu_01AbC"
    assert "14" in str(result["content"])


async def test_a_bad_key_is_a_provider_auth_error(anthropic_fake: AnthropicFake) -> None:
    conversation = Conversation(anthropic_llm(config(), ctx(anthropic_fake, secret="sk-ant-wrong")))
    async with conversation.harness() as h:
        await h.queue(LLMRunFrame())
        errors = await h.wait_for(ErrorFrame, upstream=True)
    error = errors[0].exception
    assert isinstance(error, ProviderAuthError)
    assert error.provider == "llm:anthropic"
    assert "sk-ant-wrong" not in errors[0].error


async def test_overloaded_mid_stream_is_provider_unavailable(anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.script(Reply(text="Sure, let me look that up for you.", fail_after=2))
    conversation = Conversation(anthropic_llm(config(), ctx(anthropic_fake)))
    async with conversation.harness() as h:
        await h.queue(LLMRunFrame())
        errors = await h.wait_for(ErrorFrame, upstream=True)
    assert isinstance(errors[0].exception, ProviderUnavailable)
    assert conversation.text == "Sure, let"


def test_no_secret_is_a_missing_credential() -> None:
    with pytest.raises(MissingCredential):
        anthropic_llm(config(), ProviderContext(org_id="org_test"))
