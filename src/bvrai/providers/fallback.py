"""Provider fallback during a call: when the active LLM, TTS or STT fails or stalls, the next one in the
agent spec's list takes over and the call goes on.

Built on pipecat's ``ServiceSwitcher`` / ``LLMSwitcher``: every service sits in its own branch behind
filters that pass frames to the active one only, and the switcher answers for its services' errors.
What pipecat's own ``ServiceSwitcherStrategyFailover`` lacks for a live call, added here:

- **When to switch.** pipecat fails over only once a service is unusable (a permanent error such as a
  rejected key). A provider returning 503s or dropping its socket stays "usable" and the caller hears
  silence. ``FailoverStrategy`` switches on any provider failure: the shared ``ProviderUnavailable``
  (5xx, 429, network, timeouts) and ``ProviderAuthError``, as ``providers.base`` prescribes; not on
  ``ProviderRequestError`` (a bad spec, reported instead) nor on errors of the application's own code
  (a tool handler raising).
- **Stalls.** A provider that accepts the request and then sends nothing raises no error at all. A
  watchdog gives the LLM ``first_output_timeout_s`` to produce its first token or tool call, and the
  TTS as long to produce audio once it has text to speak; past that the service counts as failed
  (``ProviderTimeout``) and its stuck request is cancelled.
- **The request in flight.** Switching alone would lose the turn that failed. The LLM switcher
  re-issues the request that was in flight to the new service, from a snapshot of the conversation
  taken when it was first sent (so text the failed provider streamed before dying is not in it); the
  TTS switcher re-sends the text the failed service had not yet turned into audio. Each request is
  re-issued at most once per remaining service, so a call whose providers all fail ends in an error,
  not a loop.
- **Late output.** Audio a failed TTS produces after the switch is dropped, so the caller never hears
  two voices. A failed LLM's response is closed (its ``LLMFullResponseEndFrame`` passes) so the
  aggregators and the TTS stay consistent, and nothing else from it passes.

The switch is for the rest of the call: a failed provider is not tried again unless every later one
has failed too (the list wraps around). Each failover raises the switcher's ``on_failover`` event
``(switcher, failed_service, new_service, error_frame)`` for call logs and metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    FunctionCallInProgressFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    LLMUpdateSettingsFrame,
    StartFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.llm_switcher import LLMSwitcher
from pipecat.pipeline.service_switcher import ServiceSwitcher, ServiceSwitcherStrategy
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.utils.errors import ErrorCategory

from bvrai.providers.base import ProviderAuthError, ProviderContext, ProviderError, ProviderTimeout
from bvrai.providers.registry import Stage
from bvrai.providers.registry import default_registry as registry

DEFAULT_LLM_FIRST_OUTPUT_TIMEOUT_S = 5.0
DEFAULT_TTS_FIRST_AUDIO_TIMEOUT_S = 5.0

# Frames that show an LLM is answering (its first token, or a tool call).
_LLM_OUTPUT = (LLMTextFrame, FunctionCallsStartedFrame, FunctionCallInProgressFrame)
_LIFECYCLE = (StartFrame, EndFrame, CancelFrame)
# LLM settings that mean the same to every provider, so every LLM in the list should get them.
_NEUTRAL_LLM_SETTINGS = {"system_instruction"}


def should_fail_over(error: ErrorFrame) -> bool:
    """Whether an error from the active service is a provider failure worth moving off it for."""
    exception = error.exception
    if isinstance(exception, ProviderError):
        return exception.retryable or isinstance(exception, ProviderAuthError)
    # Services that do not map their errors (local engines): judge by pipecat's category.
    return error.category not in (ErrorCategory.APPLICATION, ErrorCategory.INVALID_REQUEST)


class FailoverStrategy(ServiceSwitcherStrategy):
    """Switch to the next service in the list when the active one reports a provider failure."""

    async def handle_error(self, error: ErrorFrame) -> FrameProcessor | None:
        if not should_fail_over(error):
            return None
        return await self.fail_over(error.processor or self.active_service)

    async def fail_over(self, failed: FrameProcessor) -> FrameProcessor | None:
        """Make the service after ``failed`` active (the list wraps); ``None`` if none can take over."""
        if failed is not self.active_service:
            return None
        start = self.services.index(failed)
        for offset in range(1, len(self.services)):
            candidate = self.services[(start + offset) % len(self.services)]
            if candidate.is_usable:
                return await self._set_active_if_available(candidate)
        logger.error(f"{failed.name} failed and no other provider can take over")
        return None


class _OutputGate(FrameProcessor):
    """Sits right after one service in its branch: tells the switcher what the service produced, and
    drops what it produces once it is no longer the one the call is listening to."""

    def __init__(self, service: FrameProcessor, strategy: ServiceSwitcherStrategy) -> None:
        super().__init__(name=f"{service.name}::FailoverGate", enable_direct_mode=True)
        self._service = service
        self._strategy = strategy

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        owner: _Failover | None = getattr(self._strategy, "owner", None)
        gated = direction == FrameDirection.DOWNSTREAM and owner is not None and not isinstance(frame, _LIFECYCLE)
        if gated and owner is not None and not owner._admit_output(self._service, frame):
            return
        await self.push_frame(frame, direction)


@dataclasses.dataclass
class _Pending:
    """The request the active service is working on, kept so another service can redo it."""

    service: FrameProcessor
    frames: list[Frame]  # what to queue again on the next service
    reissues: int = 0
    answered: bool = False


class _Failover:
    """What the LLM, TTS and STT failover switchers share. Mixed in before the pipecat switcher."""

    stage: Stage
    first_output_timeout_s: float | None
    _pending: _Pending | None
    _watchdog: asyncio.TimerHandle | None
    _open_responses: set[int]

    # --- provided by ServiceSwitcher ---------------------------------------------------------------------------
    services: list[FrameProcessor]
    strategy: Any
    name: str

    def _init_failover(self, stage: Stage, first_output_timeout_s: float | None) -> None:
        self.stage = stage
        self.first_output_timeout_s = first_output_timeout_s
        self._pending = None
        self._watchdog = None
        # ids of services with an LLM response (or a TTS utterance) started and not yet ended
        self._open_responses = set()
        self.strategy.owner = self
        self._register_event_handler("on_failover")  # type: ignore[attr-defined]

    @staticmethod
    def _make_pipeline_definitions(services: list[FrameProcessor], strategy: ServiceSwitcherStrategy) -> list[Any]:
        # pipecat's branch (filter → service → filter) plus a gate that sees the service's own output.
        return [
            [*ServiceSwitcher._make_pipeline_definition(service, strategy), _OutputGate(service, strategy)]
            for service in services
        ]

    # --- what flows in ------------------------------------------------------------------------------------------

    async def _note_input(self, frame: Frame, direction: FrameDirection) -> None:
        """Called for each frame entering the switcher, before it is routed."""
        if isinstance(frame, InterruptionFrame | EndFrame | CancelFrame):
            # The user barged in (the service drops the request itself), or the call is over.
            self._pending = None
            self._stop_watchdog()

    # --- what flows out ------------------------------------------------------------------------------------------

    def _admit_output(self, service: FrameProcessor, frame: Frame) -> bool:
        """Whether a frame a service pushed downstream may leave the switcher; notes progress."""
        return service is self.strategy.active_service

    # --- failing over --------------------------------------------------------------------------------------------

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
        before = self.strategy.active_service
        await super().push_frame(frame, direction)  # type: ignore[misc]
        after = self.strategy.active_service
        if isinstance(frame, ErrorFrame) and after is not before:
            await self._failed_over(before, after, frame)

    async def _failed_over(self, failed: FrameProcessor, active: FrameProcessor, error: ErrorFrame) -> None:
        logger.warning(f"{self.name}: {self.stage} provider {failed.name} failed ({error.error}); using {active.name}")
        await self._call_event_handler("on_failover", failed, active, error)  # type: ignore[attr-defined]
        self._stop_watchdog()
        pending = self._pending
        self._pending = None
        if pending is None or pending.service is not failed or not pending.frames:
            return
        if pending.reissues >= len(self.services) - 1:
            # Every provider has had this request. The switch above stays (the next request goes to the
            # one that failed longest ago), but this turn is lost: say so, once, as the switcher's error.
            await self.push_error(  # type: ignore[attr-defined]
                f"every {self.stage} provider failed: {error.error}",
                exception=error.exception,
                category=ErrorCategory.UNKNOWN,
            )
            return
        await self._reissue(pending, active)

    async def _reissue(self, pending: _Pending, active: FrameProcessor) -> None:
        frames = [_fresh(f) for f in pending.frames]
        self._pending = _Pending(service=active, frames=list(frames), reissues=pending.reissues + 1)
        for f in frames:
            await self.queue_frame(f)  # type: ignore[attr-defined]
        self._start_watchdog()

    # --- the watchdog --------------------------------------------------------------------------------------------

    def _start_watchdog(self) -> None:
        self._stop_watchdog()
        if self.first_output_timeout_s is None or self._pending is None:
            return
        pending = self._pending
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(
            self.first_output_timeout_s,
            lambda: self.create_task(self._timed_out(pending), f"{self.name}::failover-timeout"),  # type: ignore[attr-defined]
        )

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def _timed_out(self, pending: _Pending) -> None:
        self._watchdog = None
        if self._pending is not pending or pending.answered or pending.service is not self.strategy.active_service:
            return
        failed = pending.service
        provider = getattr(failed, "provider_id", f"{self.stage}:{failed.name}")
        what = "first token" if self.stage == "llm" else "audio"
        error = ProviderTimeout(provider, f"no {what} within {self.first_output_timeout_s:g} s")
        frame = ErrorFrame(error=str(error), exception=error, processor=failed, category=ErrorCategory.CONNECTIVITY)
        # Through the switcher's own error path, as if the service had reported it: the strategy switches
        # and the request is re-issued.
        await self.push_frame(frame, FrameDirection.UPSTREAM)
        # Then the stuck request is cancelled, the way pipecat withdraws a speculative inference; otherwise
        # it would hold the service's queue and answer late.
        await failed._start_interruption()


def _neutral_settings_update(frame: Frame) -> bool:
    if not isinstance(frame, LLMUpdateSettingsFrame) or frame.service is not None or frame.delta is None:
        return False
    return set(frame.delta.given_fields()) <= _NEUTRAL_LLM_SETTINGS


def _speakable(frame: Frame) -> bool:
    text = getattr(frame, "text", None)
    return isinstance(text, str) and bool(text.strip()) and not getattr(frame, "skip_tts", False)


def _fresh(frame: Frame) -> Frame:
    """A new frame (new id) with the same content, to send a request again."""
    copy = dataclasses.replace(frame)
    for attr in ("skip_tts", "includes_inter_frame_spaces", "append_to_context"):
        if hasattr(frame, attr):
            setattr(copy, attr, getattr(frame, attr))
    return copy


def _snapshot(context: LLMContext) -> LLMContext:
    """The conversation as it stands now; later appends to the live context don't reach it."""
    return LLMContext(messages=list(context.get_messages()), tools=context.tools, tool_choice=context.tool_choice)


class FailoverLLMSwitcher(_Failover, LLMSwitcher[FailoverStrategy]):
    """LLMs tried in order; the request in flight is re-issued to the next one when one fails."""

    def __init__(
        self, llms: Sequence[Any], *, first_output_timeout_s: float | None = DEFAULT_LLM_FIRST_OUTPUT_TIMEOUT_S
    ) -> None:
        super().__init__(list(llms), FailoverStrategy)
        self._init_failover("llm", first_output_timeout_s)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await self._note_input(frame, direction)
        if _neutral_settings_update(frame):
            # The call's system prompt must survive a switch; pipecat hands a settings update to the active
            # service only, unless it is marked provider-neutral.
            frame.reach_inactive_services = True  # type: ignore[attr-defined]
        if isinstance(frame, LLMContextFrame) and direction == FrameDirection.DOWNSTREAM:
            pending = self._pending
            reissue = pending is not None and any(f is frame for f in pending.frames)
            if not reissue:
                self._pending = _Pending(
                    service=self.strategy.active_service,
                    frames=[LLMContextFrame(context=_snapshot(frame.context))],
                )
                self._start_watchdog()
        await super().process_frame(frame, direction)

    def _admit_output(self, service: FrameProcessor, frame: Frame) -> bool:
        key = id(service)
        active = service is self.strategy.active_service
        if isinstance(frame, LLMFullResponseStartFrame):
            if not active:
                return False
            self._open_responses.add(key)
            return True
        if isinstance(frame, LLMFullResponseEndFrame):
            # A failed service's response is closed even after the switch, so aggregators and the TTS
            # see every start matched by an end.
            was_open = key in self._open_responses
            self._open_responses.discard(key)
            pending = self._pending
            if active and pending is not None and pending.service is service:
                # The request is over: answered, empty, or failed in a way not worth a switch.
                self._pending = None
                self._stop_watchdog()
            return active or was_open
        if not active:
            return False
        pending = self._pending
        if isinstance(frame, _LLM_OUTPUT) and pending is not None and pending.service is service:
            pending.answered = True
            self._stop_watchdog()
        return True


class FailoverServiceSwitcher(_Failover, ServiceSwitcher[FailoverStrategy]):
    """TTS or STT engines tried in order. For TTS, text not yet spoken is re-sent to the next engine."""

    def __init__(
        self,
        services: Sequence[Any],
        *,
        stage: Literal["tts", "stt"],
        first_output_timeout_s: float | None = DEFAULT_TTS_FIRST_AUDIO_TIMEOUT_S,
    ) -> None:
        super().__init__(list(services), FailoverStrategy)
        # An STT has no request to time: audio flows in, words come out when someone speaks.
        self._init_failover(stage, first_output_timeout_s if stage == "tts" else None)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await self._note_input(frame, direction)
        if self.stage == "tts" and direction == FrameDirection.DOWNSTREAM:
            self._note_tts_input(frame)
        await super().process_frame(frame, direction)

    def _note_tts_input(self, frame: Frame) -> None:
        pending = self._pending
        if pending is not None and any(f is frame for f in pending.frames):
            return  # a frame being re-sent
        active = self.strategy.active_service
        if isinstance(frame, LLMFullResponseStartFrame):
            self._pending = _Pending(service=active, frames=[frame])
            return
        is_text = isinstance(frame, TextFrame | TTSSpeakFrame) and not getattr(frame, "skip_tts", False)
        if is_text:
            if pending is None or pending.service is not active:
                pending = self._pending = _Pending(service=active, frames=[])
            pending.frames.append(frame)
            if isinstance(frame, TTSSpeakFrame):
                self._start_watchdog()  # a whole utterance: audio is due now
            return
        if isinstance(frame, LLMFullResponseEndFrame) and pending is not None and pending.service is active:
            pending.frames.append(frame)
            # The LLM has said everything: audio is due. Before that the TTS may rightly be waiting for
            # the end of a sentence, and a response that was only a tool call has nothing to say.
            if any(_speakable(f) for f in pending.frames) and self._watchdog is None:
                self._start_watchdog()

    def _admit_output(self, service: FrameProcessor, frame: Frame) -> bool:
        key = id(service)
        if service is not self.strategy.active_service:
            # No more audio from a voice the call has left; only the close of what it had started.
            if isinstance(frame, TTSStoppedFrame) and key in self._open_responses:
                self._open_responses.discard(key)
                return True
            return False
        if isinstance(frame, TTSStartedFrame):
            self._open_responses.add(key)
        elif isinstance(frame, TTSStoppedFrame):
            self._open_responses.discard(key)
        pending = self._pending
        if pending is not None and pending.service is service:
            if isinstance(frame, TTSAudioRawFrame):
                # Spoken (or being spoken): nothing before this needs saying again.
                self._pending = None
                self._stop_watchdog()
            elif isinstance(frame, TTSStartedFrame) and self._watchdog is None:
                self._start_watchdog()
        return True


def merge_fallback(primary: Any, fallback: Any) -> Any:
    """A fallback section completed from the primary: the numbers it leaves unset follow the primary's.

    The spec documents this for ``LLMFallback`` (temperature, max_tokens) and ``VoiceFallback`` (speed).
    """
    updates = {
        name: getattr(primary, name)
        for name in ("temperature", "max_tokens", "speed", "language")
        if hasattr(fallback, name) and getattr(fallback, name) is None and getattr(primary, name, None) is not None
    }
    if not updates:
        return fallback
    if hasattr(fallback, "model_copy"):
        return fallback.model_copy(update=updates)
    return dataclasses.replace(fallback, **updates)


def build_with_fallbacks(
    stage: Stage,
    primary: Any,
    fallbacks: Sequence[Any] | None = None,
    ctx_for: Callable[[str], ProviderContext] | None = None,
    *,
    first_output_timeout_s: float | None = None,
) -> FrameProcessor:
    """The stage's service for a call, with its fallbacks behind it.

    Either ``build_with_fallbacks(stage, primary_config, fallback_configs, ctx_for)``: each config is
    built through its registry entry with ``ctx_for(provider)`` (a fallback's own ``base_url`` wins),
    fallback sections are completed from the primary (``merge_fallback``), and every service but the
    last is built with no client retries (``ctx.extra["max_retries"] = 0``) since the next provider is
    a faster remedy than backing off; or ``build_with_fallbacks(stage, [service, *backups])`` with
    services already built.

    ``first_output_timeout_s`` is how long the LLM may take to its first token (or the TTS to audio)
    before counting as failed; ``None`` takes the stage default. With nothing to fall back to, the
    primary service is returned as is.
    """
    if isinstance(primary, list | tuple):
        services = list(primary)
    else:
        if ctx_for is None:
            raise TypeError("build_with_fallbacks(stage, config, fallbacks, ctx_for) needs ctx_for")
        configs = [primary, *(merge_fallback(primary, f) for f in fallbacks or [])]
        services = []
        for i, config in enumerate(configs):
            ctx = ctx_for(config.provider)
            if getattr(config, "base_url", None):
                ctx = dataclasses.replace(ctx, base_url=config.base_url)
            if i < len(configs) - 1 and "max_retries" not in ctx.extra:
                ctx = dataclasses.replace(ctx, extra={**ctx.extra, "max_retries": 0})
            factory = registry.get(stage, config.provider).impl
            if factory is None:
                raise LookupError(f"no implementation registered for {stage} provider '{config.provider}'")
            services.append(factory(config, ctx))
    if len(services) == 1:
        service: FrameProcessor = services[0]
        return service
    if stage == "llm":
        timeout = DEFAULT_LLM_FIRST_OUTPUT_TIMEOUT_S if first_output_timeout_s is None else first_output_timeout_s
        return FailoverLLMSwitcher(services, first_output_timeout_s=timeout)
    if stage in ("tts", "stt"):
        timeout = DEFAULT_TTS_FIRST_AUDIO_TIMEOUT_S if first_output_timeout_s is None else first_output_timeout_s
        return FailoverServiceSwitcher(services, stage=stage, first_output_timeout_s=timeout)
    raise ValueError(f"no fallback for the {stage} stage")
