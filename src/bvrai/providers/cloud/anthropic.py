"""Anthropic Messages API LLM, on pipecat's ``AnthropicLLMService``.

``ctx.base_url`` is the API root without ``/v1`` (``https://api.anthropic.com``), as the ``anthropic``
SDK takes it; the SDK client is built here so that base URL, retries and timeouts are ours.
"""

from __future__ import annotations

from typing import Any

from anthropic import AsyncAnthropic, Timeout
from pipecat.services.anthropic.llm import AnthropicLLMService

from bvrai.providers.base import ProviderContext
from bvrai.providers.cloud._common import (
    DEFAULT_CONNECT_TIMEOUT_S,
    field,
    max_retries,
    require_secret,
    system_instruction,
    timeout_s,
)
from bvrai.providers.cloud._errors import MapsProviderErrors


class AnthropicLLM(MapsProviderErrors, AnthropicLLMService):
    provider_id = "llm:anthropic"


def anthropic_llm(config: Any, ctx: ProviderContext) -> AnthropicLLM:
    """``llm: {provider: anthropic, model, temperature, max_tokens}`` → pipecat LLM service."""
    secret = require_secret("llm:anthropic", ctx)
    client = AsyncAnthropic(
        api_key=secret,
        base_url=ctx.base_url,
        max_retries=max_retries(ctx),
        timeout=Timeout(timeout_s(ctx), connect=DEFAULT_CONNECT_TIMEOUT_S),
    )
    settings = AnthropicLLMService.Settings(
        model=field(config, "model", "claude-haiku-4-5"),
        max_tokens=field(config, "max_tokens", 300),
        # The spec allows 0..2 (OpenAI's range); Anthropic accepts 0..1.
        temperature=min(float(field(config, "temperature", 0.7)), 1.0),
        system_instruction=system_instruction(ctx),
    )
    llm = AnthropicLLM(api_key=secret, client=client, settings=settings)
    llm.redact_secret = secret
    return llm
