"""Small helpers the cloud adapters share: the secret, the client retry budget, the spec's numbers."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx

from bvrai.providers.base import MissingCredential, ProviderContext

# Vendor SDKs retry 5xx/429 twice with backoff (0.5 s doubling). On a live call that is seconds of
# silence, so adapters retry once by default; the fallback builder sets 0 when a fallback can take over.
DEFAULT_MAX_RETRIES = 1
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """The TLS context the SDKs' HTTP clients would each build, built once per process: loading the CA
    bundle costs ~20 ms of CPU, which every call paid again, blocking the event loop of every other
    call meanwhile. An ``SSLContext`` may be shared by any number of connections."""
    return httpx.create_ssl_context()


def require_secret(provider: str, ctx: ProviderContext) -> str:
    if not ctx.secret:
        raise MissingCredential(provider, "no API key for this provider in the organization's credentials vault")
    return ctx.secret


def max_retries(ctx: ProviderContext) -> int:
    return int(ctx.extra.get("max_retries", DEFAULT_MAX_RETRIES))


def timeout_s(ctx: ProviderContext) -> float:
    return float(ctx.extra.get("timeout_s", DEFAULT_TIMEOUT_S))


def system_instruction(ctx: ProviderContext) -> str | None:
    """The call's system prompt, when the session passes it at build time (``ctx.extra``).

    pipecat 1.9+ wants it on the LLM service rather than as a system message in the context; a session
    can also change it later with an ``LLMUpdateSettingsFrame``.
    """
    value = ctx.extra.get("system_instruction")
    return str(value) if value else None


def field(config: Any, name: str, default: Any = None) -> Any:
    """A spec section's field, tolerating the fallback sections that leave numbers unset."""
    value = getattr(config, name, None)
    return default if value is None else value


def http_to_ws(url: str) -> str:
    """``https://host`` → ``wss://host`` (and http → ws); WebSocket URLs pass through."""
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    if url.startswith("http://"):
        return "ws://" + url.removeprefix("http://")
    return url


def ws_to_http(url: str) -> str:
    if url.startswith("wss://"):
        return "https://" + url.removeprefix("wss://")
    if url.startswith("ws://"):
        return "http://" + url.removeprefix("ws://")
    return url
