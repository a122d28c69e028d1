"""OpenAI, and every server speaking its protocol: Chat Completions LLM, audio transcription, speech.

Built on pipecat's ``OpenAILLMService``, ``OpenAISTTService`` and ``OpenAITTSService``. ``ctx.base_url``
is the API root including ``/v1`` (``https://api.openai.com/v1``, ``http://localhost:11434/v1`` for
Ollama...), exactly what the ``openai`` SDK takes as ``base_url``.
"""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI, DefaultAsyncHttpxClient, Timeout
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.openai.stt import OpenAISTTService
from pipecat.services.openai.tts import OpenAITTSService
from pipecat.transcriptions.language import Language
from pipecat.utils.http import connection_limits

from bvrai.providers.base import ProviderContext
from bvrai.providers.cloud._common import (
    DEFAULT_CONNECT_TIMEOUT_S,
    field,
    max_retries,
    require_secret,
    shared_ssl_context,
    system_instruction,
    timeout_s,
)
from bvrai.providers.cloud._errors import MapsProviderErrors, RemembersExceptions


def _client(api_key: str, base_url: str | None, ctx: ProviderContext) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        max_retries=max_retries(ctx),
        timeout=Timeout(timeout_s(ctx), connect=DEFAULT_CONNECT_TIMEOUT_S),
        http_client=DefaultAsyncHttpxClient(
            verify=shared_ssl_context(),
            limits=connection_limits(max_keepalive_connections=100, max_connections=1000, keepalive_expiry=None),
        ),
    )


def language(code: str | None, default: Language | None = Language.EN) -> Language | None:
    """A spec language (``en``, ``en-US``) as pipecat's ``Language``; unknown codes fall back."""
    if not code:
        return default
    for candidate in (code, code.split("-")[0]):
        try:
            return Language(candidate)
        except ValueError:
            continue
    return default


class OpenAILLM(MapsProviderErrors, OpenAILLMService):
    provider_id = "llm:openai"

    def __init__(self, *, ctx: ProviderContext, **kwargs: Any) -> None:
        # pipecat builds the client inside __init__ (create_client), so the context must be in place first.
        self._bvrai_ctx = ctx
        super().__init__(**kwargs)

    def create_client(
        self,
        api_key: Any = None,
        base_url: Any = None,
        organization: Any = None,
        project: Any = None,
        default_headers: Any = None,
        **kwargs: Any,
    ) -> AsyncOpenAI:
        client = _client(api_key, base_url, self._bvrai_ctx)
        if default_headers:
            client = client.with_options(default_headers=default_headers)
        return client


def openai_llm(config: Any, ctx: ProviderContext) -> OpenAILLM:
    """``llm: {provider: openai, model, temperature, max_tokens, base_url}`` → pipecat LLM service."""
    secret = require_secret("llm:openai", ctx)
    max_tokens = field(config, "max_tokens", 300)
    settings = OpenAILLMService.Settings(model=field(config, "model", "gpt-4o-mini"))
    settings.temperature = field(config, "temperature", 0.7)
    settings.system_instruction = system_instruction(ctx)
    if ctx.base_url is None:
        # OpenAI itself wants max_completion_tokens (reasoning models reject max_tokens)...
        settings.max_completion_tokens = max_tokens
    else:
        # ...while compatible servers (llama.cpp, vLLM, Ollama, Groq) widely know only max_tokens.
        settings.max_tokens = max_tokens
    llm = OpenAILLM(ctx=ctx, api_key=secret, base_url=ctx.base_url, settings=settings)
    llm.redact_secret = secret
    return llm


class OpenAISTT(RemembersExceptions, MapsProviderErrors, OpenAISTTService):
    provider_id = "stt:openai"

    async def _transcribe(self, audio: bytes) -> Any:
        # pipecat turns a failed request into an ErrorFrame with only a message; keep the exception
        # (and so its HTTP status) for the error mapping.
        with self.remembering_exceptions():
            return await super()._transcribe(audio)


def openai_stt(config: Any, ctx: ProviderContext) -> OpenAISTT:
    """``transcriber: {provider: openai, model, language}`` → per-utterance transcription service."""
    secret = require_secret("stt:openai", ctx)
    settings = OpenAISTTService.Settings(
        model=field(config, "model", "gpt-4o-transcribe"), language=language(field(config, "language"))
    )
    stt = OpenAISTT(api_key=secret, base_url=ctx.base_url, settings=settings, sample_rate=ctx.sample_rate)
    # The service builds a client with the SDK's retry budget and 10-minute timeout; a call needs less.
    stt._client = _client(secret, ctx.base_url, ctx)
    stt.redact_secret = secret
    return stt


class OpenAITTS(MapsProviderErrors, OpenAITTSService):
    provider_id = "tts:openai"


def openai_tts(config: Any, ctx: ProviderContext) -> OpenAITTS:
    """``voice: {provider: openai, voice_id, model, speed}`` → speech service (PCM 24 kHz)."""
    secret = require_secret("tts:openai", ctx)
    settings = OpenAITTSService.Settings(
        model=field(config, "model", "gpt-4o-mini-tts"),
        voice=field(config, "voice_id", "alloy"),
        speed=field(config, "speed", 1.0),
    )
    # OpenAI speech is 24 kHz only; the pipeline's output resamples if it runs at another rate.
    tts = OpenAITTS(api_key=secret, base_url=ctx.base_url, settings=settings, sample_rate=24000)
    tts._client = _client(secret, ctx.base_url, ctx)
    tts.redact_secret = secret
    return tts
