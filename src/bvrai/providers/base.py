"""What every provider implementation shares: how it is built, and how it fails.

An implementation is a factory registered on its registry entry (``registry.register(stage, name,
impl=factory)``). The call-session builder calls it with the agent spec's section for that stage and
a ``ProviderContext``, and gets a pipecat service (a ``FrameProcessor``) back.

Failures are mapped to the few types below, whatever the vendor said, so retry and fallback policy
is written once: ``ProviderUnavailable`` (network errors, timeouts, 5xx, 429) and
``ProviderAuthError`` (401/403) make the session switch to the next fallback provider;
``ProviderRequestError`` (4xx other than those) is a bug or a bad spec and is reported, not retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ProviderError(Exception):
    """A provider failed; ``provider`` names it as ``stage:name``."""

    retryable = False

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class ProviderUnavailable(ProviderError):
    retryable = True


class ProviderTimeout(ProviderUnavailable):
    pass


class ProviderAuthError(ProviderError):
    pass


class ProviderRequestError(ProviderError):
    pass


class MissingCredential(ProviderError):
    """The org's vault has no secret for a provider that needs one."""


def error_for_status(provider: str, status: int, message: str) -> ProviderError:
    if status in (401, 403):
        return ProviderAuthError(provider, f"{status} {message}")
    if status == 429 or status >= 500:
        return ProviderUnavailable(provider, f"{status} {message}")
    return ProviderRequestError(provider, f"{status} {message}")


@dataclass(frozen=True)
class ProviderContext:
    """What a factory needs besides the spec: the org's secret and where the service lives."""

    org_id: str
    secret: str | None = None
    # Endpoint override: the spec's base_url, else the operator's BVRAI_PROVIDER_BASE_URLS entry
    # (a proxy, a self-hosted compatible server, or a test fake).
    base_url: str | None = None
    sample_rate: int = 16000
    extra: dict[str, Any] = field(default_factory=dict)


class ProviderFactory(Protocol):
    def __call__(self, config: Any, ctx: ProviderContext) -> Any: ...
