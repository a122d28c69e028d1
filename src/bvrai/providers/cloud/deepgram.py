"""Deepgram live streaming transcription, on pipecat's ``DeepgramSTTService``.

``ctx.base_url`` is the API host with any scheme (``https://api.deepgram.com``, ``wss://…``, or
``http://127.0.0.1:port`` for a fake): pipecat derives the WebSocket and REST URLs from it and keeps
the security level given, which is what the Deepgram SDK's ``DeepgramClientEnvironment`` needs.
"""

from __future__ import annotations

from typing import Any

from pipecat.services.deepgram.stt import DeepgramSTTService

from bvrai.providers.base import ProviderContext
from bvrai.providers.cloud._common import field, require_secret
from bvrai.providers.cloud._errors import MapsProviderErrors, RemembersExceptions
from bvrai.providers.cloud.openai import language


class DeepgramSTT(RemembersExceptions, MapsProviderErrors, DeepgramSTTService):
    provider_id = "stt:deepgram"

    async def _on_error(self, error: Any) -> None:
        # The SDK hands over the exception that broke the socket; pipecat reports only its text.
        if isinstance(error, Exception):
            self._remembered_exception = error
        await super()._on_error(error)  # type: ignore[no-untyped-call]


def deepgram_stt(config: Any, ctx: ProviderContext) -> DeepgramSTT:
    """``transcriber: {provider: deepgram, model, language}`` → streaming STT over one WebSocket per call."""
    secret = require_secret("stt:deepgram", ctx)
    settings = DeepgramSTTService.Settings(
        model=field(config, "model", "nova-3"),
        language=language(field(config, "language")),
        interim_results=True,
        smart_format=True,
        punctuate=True,
    )
    stt = DeepgramSTT(
        api_key=secret,
        base_url=ctx.base_url or "",
        encoding="linear16",
        sample_rate=ctx.sample_rate,
        settings=settings,
    )
    stt.redact_secret = secret
    return stt
