"""Deepgram live streaming transcription, on pipecat's ``DeepgramSTTService``.

``ctx.base_url`` is the API host with any scheme (``https://api.deepgram.com``, ``wss://…``, or
``http://127.0.0.1:port`` for a fake): pipecat derives the WebSocket and REST URLs from it and keeps
the security level given, which is what the Deepgram SDK's ``DeepgramClientEnvironment`` needs.

The SDK client pipecat builds for each call makes an httpx client of its own, with a new TLS context
(~20 ms of CPU: the CA bundle is loaded each time) that streaming never uses; while a service is
built here, the SDK's default-client factory hands out clients on the process's one TLS context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import deepgram.base_client as sdk_base_client
import httpx
from pipecat.services.deepgram.stt import DeepgramSTTService

from bvrai.providers.base import ProviderContext
from bvrai.providers.cloud._common import field, require_secret, shared_ssl_context
from bvrai.providers.cloud._errors import MapsProviderErrors, RemembersExceptions
from bvrai.providers.cloud.openai import language


class DeepgramSTT(RemembersExceptions, MapsProviderErrors, DeepgramSTTService):
    provider_id = "stt:deepgram"

    async def _on_error(self, error: Any) -> None:
        # The SDK hands over the exception that broke the socket; pipecat reports only its text.
        if isinstance(error, Exception):
            self._remembered_exception = error
        await super()._on_error(error)  # type: ignore[no-untyped-call]


def _sdk_http_client(timeout: float | None, follow_redirects: bool | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout, follow_redirects=bool(follow_redirects), verify=shared_ssl_context())


@contextmanager
def _sdk_clients_on_shared_tls() -> Iterator[None]:
    # Swapped only around a synchronous constructor: nothing else runs on the event loop meanwhile.
    default = sdk_base_client._make_default_async_client
    sdk_base_client._make_default_async_client = _sdk_http_client
    try:
        yield
    finally:
        sdk_base_client._make_default_async_client = default


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
    with _sdk_clients_on_shared_tls():
        stt = DeepgramSTT(
            api_key=secret,
            base_url=ctx.base_url or "",
            encoding="linear16",
            sample_rate=ctx.sample_rate,
            settings=settings,
        )
    stt.redact_secret = secret
    return stt
