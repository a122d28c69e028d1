"""Turning what a vendor SDK or pipecat service reports into the shared error types of ``base``.

Pipecat services report failures as ``ErrorFrame``s carrying the vendor's exception (an
``openai.AuthenticationError``, a ``websockets`` ``InvalidStatus``, a Deepgram ``ApiError``...) or
only a message. Every cloud adapter mixes in ``MapsProviderErrors`` so that the frame leaving the
service carries one of ``ProviderAuthError`` / ``ProviderUnavailable`` / ``ProviderTimeout`` /
``ProviderRequestError`` instead, with the vendor's exception as its ``__cause__``. Fallback, call
logs and metrics then decide on one vocabulary, whatever the vendor said.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from pipecat.frames.frames import ErrorFrame
from pipecat.utils.errors import ErrorCategory, classify_http_exception, extract_http_status_code

from bvrai.providers.base import (
    ProviderAuthError,
    ProviderError,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
)

_CATEGORY_FOR = {
    ProviderAuthError: ErrorCategory.AUTHENTICATION,
    ProviderTimeout: ErrorCategory.CONNECTIVITY,
    ProviderUnavailable: ErrorCategory.SERVER,
    ProviderRequestError: ErrorCategory.INVALID_REQUEST,
}


def _timeout_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [TimeoutError, asyncio.TimeoutError]
    for module, name in (
        ("openai", "APITimeoutError"),
        ("anthropic", "APITimeoutError"),
        ("httpx", "TimeoutException"),
    ):
        try:
            types.append(getattr(__import__(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(types)


def _connection_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [ConnectionError, OSError]
    for module, name in (
        ("openai", "APIConnectionError"),
        ("anthropic", "APIConnectionError"),
        ("httpx", "TransportError"),
        ("aiohttp", "ClientConnectionError"),
        ("websockets.exceptions", "ConnectionClosed"),
        ("websockets.exceptions", "InvalidHandshake"),
    ):
        try:
            mod = __import__(module, fromlist=[name])
            types.append(getattr(mod, name))
        except (ImportError, AttributeError):
            continue
    return tuple(types)


_TIMEOUTS = _timeout_types()
_CONNECTION = _connection_types()


def map_error(
    provider: str,
    exception: BaseException | None,
    category: ErrorCategory | None,
    message: str,
) -> ProviderError | None:
    """The shared error for a failure a provider reported; ``None`` when it isn't the provider's failure.

    Order matters: an HTTP status is the most precise signal, then the exception's kind, then pipecat's
    category. ``APPLICATION`` errors (a tool handler raised, say) are the application's, not the
    provider's, and stay unmapped so they never cost a failover.
    """
    if isinstance(exception, ProviderError):
        return exception
    if category is ErrorCategory.APPLICATION:
        return None
    if exception is not None:
        status = extract_http_status_code(exception)
        if status is not None and status >= 400:
            return error_for_status(provider, status, message)
        if isinstance(exception, _TIMEOUTS):
            return ProviderTimeout(provider, message)
        if isinstance(exception, _CONNECTION):
            if category in (ErrorCategory.AUTHENTICATION, ErrorCategory.AUTHORIZATION):
                return ProviderAuthError(provider, message)
            return ProviderUnavailable(provider, message)
    if category in (ErrorCategory.AUTHENTICATION, ErrorCategory.AUTHORIZATION):
        return ProviderAuthError(provider, message)
    if category is ErrorCategory.INVALID_REQUEST:
        return ProviderRequestError(provider, message)
    # RATE_LIMIT, QUOTA, SERVER, CONNECTIVITY, and UNKNOWN: a provider service failing in a way it
    # could not name is treated as down, which is the safe reading for a live call (try the next one).
    return ProviderUnavailable(provider, message)


def category_for(error: ProviderError) -> ErrorCategory:
    for kind, category in _CATEGORY_FOR.items():
        if isinstance(error, kind):
            return category
    return ErrorCategory.UNKNOWN


class MapsProviderErrors:
    """Mixin for a pipecat service: errors leave it as the shared ``ProviderError`` types.

    Put it first in the bases (``class X(MapsProviderErrors, SomePipecatService)``) and set
    ``provider_id`` (``"llm:openai"``) so its ``push_error_frame`` runs before pipecat's.
    """

    provider_id: str = "provider"
    # Set by the factory: scrubbed from error messages, whatever a vendor library put in them.
    redact_secret: str | None = None

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        return None

    def _classify_message(self, message: str) -> ErrorCategory | None:
        """For errors pipecat reports with a message only (a vendor body pasted into text)."""
        return None

    async def push_error_frame(self, error: ErrorFrame, force_treat_as_permanent: bool = False) -> None:
        if self.redact_secret and self.redact_secret in error.error:
            error.error = error.error.replace(self.redact_secret, "***")
        exception = error.exception
        if error.category is None and exception is not None:
            error.category = self._classify_error(exception) or classify_http_exception(exception)
        elif error.category is None:
            error.category = self._classify_message(error.error)
        mapped = map_error(self.provider_id, exception, error.category, error.error)
        if mapped is not None:
            if error.category in (None, ErrorCategory.UNKNOWN):
                # pipecat's own usability logic (and ServiceSwitcher) reads the category: keep them in step.
                error.category = category_for(mapped)
            if mapped is not exception:
                mapped.__cause__ = exception
                if exception is not None:
                    mapped.__traceback__ = exception.__traceback__
                error.exception = mapped
        parent: Any = super()
        if force_treat_as_permanent:
            await parent.push_error_frame(error, force_treat_as_permanent=True)
        else:
            await parent.push_error_frame(error)


class RemembersExceptions:
    """Mixin for services whose pipecat code turns an exception into a message-only ``ErrorFrame``.

    Wrap the vendor call in ``with self.remembering_exceptions():``; the next error frame the service
    pushes without an exception gets the remembered one, so its HTTP status still decides the mapping.
    """

    _remembered_exception: BaseException | None = None

    @contextlib.contextmanager
    def remembering_exceptions(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self._remembered_exception = exc
            raise

    async def push_error_frame(self, error: ErrorFrame, force_treat_as_permanent: bool = False) -> None:
        if error.exception is None and self._remembered_exception is not None:
            error.exception = self._remembered_exception  # type: ignore[assignment]
        self._remembered_exception = None
        parent: Any = super()
        if force_treat_as_permanent:
            await parent.push_error_frame(error, force_treat_as_permanent=True)
        else:
            await parent.push_error_frame(error)
