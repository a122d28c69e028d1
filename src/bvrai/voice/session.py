"""A call session: one published agent version running on pipecat for one call, persisted as it goes.

The pipeline is pipecat's: transport in → STT → user aggregator (Silero VAD + Smart Turn decide when
the caller is done; barge-in interrupts the agent) → LLM (tools) → TTS → transport out → recorder →
assistant aggregator. pipecat's assistant aggregator builds the agent's turn from the text of audio
actually sent to the caller, so after a barge-in the context (and the stored transcript) holds only
what the caller heard. Around it the session adds: the call's record (status, messages, events,
latency, recording), the agent's behaviours (first message, silence reprompt and hang-up, maximum
duration, end-call phrases) and the tools.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import WebSocket
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    EndFrame,
    LLMMessagesAppendFrame,
    LLMRunFrame,
    LLMUpdateSettingsFrame,
    OutputTransportMessageUrgentFrame,
    TTSSpeakFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.dtmf_aggregator import DTMFAggregator
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.services.settings import LLMSettings
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.workers.runner import WorkerRunner

from bvrai.agents.spec import AgentSpec
from bvrai.calls import concurrency, lifecycle
from bvrai.calls.models import Call
from bvrai.kit.context import AppContext
from bvrai.providers.builder import build_stage
from bvrai.providers.fallback import FailoverLLMSwitcher, FailoverServiceSwitcher
from bvrai.voice.admission import SetupSlot, call_setups
from bvrai.voice.audio_models import SharedSileroVADAnalyzer
from bvrai.voice.client_messages import ClientMessages
from bvrai.voice.control import CallControl
from bvrai.voice.input_audio_shortcut import InputAudioShortcut
from bvrai.voice.latency import TurnLatencyTracker
from bvrai.voice.latency_taps import LatencyTap
from bvrai.voice.line_transport import LineTransport
from bvrai.voice.playback import MarkEmitter, MarkReceiver, PlaybackTracker
from bvrai.voice.prompt import fill
from bvrai.voice.recording import StereoWavWriter
from bvrai.voice.tools.registry import SessionTools
from bvrai.voice.turns import user_turn_strategies
from bvrai.voice.word_alignment import memoise

log = structlog.get_logger(__name__)
memoise()  # pipecat's word alignment, before any call aligns a word

SILENCE_REPROMPT = "The caller has been silent for a while. Briefly check whether they are still there."
SILENCE_GOODBYE = "I haven't heard from you, so I'll end the call now. Goodbye!"
MAX_DURATION_GOODBYE = "We've reached the time limit for this call. Thank you for calling, goodbye!"
RECORDING_CHUNK_SECS = 2
# Speech must last this long before it counts as the caller talking. pipecat's 0.2 s default puts a
# barge-in near 0.4 s; 0.1 s (with the volume gate's instant rise, SharedSileroVADAnalyzer) stops the
# agent 0.1-0.2 s after the caller starts, and Silero's confidence threshold keeps noise from tripping it.
VAD_START_SECS = 0.1
UTTERANCE_GAP_S = 1.5
DTMF_TIMEOUT_S = 1.5
# Endings the agent decides; the line is hung up after them (the caller's own hang-up needs nothing).
AGENT_ENDINGS = {"end-call-tool", "end-call-phrase", "silence-timeout", "max-duration"}


@dataclass
class LineFormat:
    """The audio the line carries: what the caller sends and what they expect back.

    A phone line (``bvrai.telephony``) also says: no browser notifications on it (``notifications``),
    how the carrier marks playback (``playback``), that key presses reach the LLM (``dtmf``), and the
    exact size of each outgoing audio message when the carrier wants fixed frames. ``out_chunk_ms``:
    how much audio each outgoing piece carries (pipecat's default, 40 ms, for browsers)."""

    serializer: FrameSerializer
    in_rate: int
    out_rate: int
    notifications: bool = True
    playback: PlaybackTracker | None = None
    dtmf: bool = False
    fixed_audio_packet_size: int | None = None
    out_chunk_ms: int = 40


@dataclass
class _Ending:
    reason: str | None = None
    status: str = "completed"
    error: str | None = None


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def speak(text: str) -> list[TTSSpeakFrame]:
    """One frame per sentence. pipecat credits a spoken text to the transcript only once all of its
    audio has played, so a long greeting cut off by the caller would otherwise leave no trace; per
    sentence, the sentences the caller did hear are kept."""
    return [TTSSpeakFrame(sentence) for sentence in _SENTENCE_END.split(text.strip()) if sentence]


class CallSession:
    def __init__(
        self,
        *,
        ctx: AppContext,
        call: Call,
        spec: AgentSpec,
        websocket: WebSocket,
        line: LineFormat,
        control: CallControl,
    ) -> None:
        self.ctx, self.call, self.spec, self.websocket, self.line, self.control = (
            ctx,
            call,
            spec,
            websocket,
            line,
            control,
        )
        self.tracker = TurnLatencyTracker()
        self.ending = _Ending()
        self.started_monotonic = time.monotonic()
        self.recording_key = f"recordings/{call.org_id}/{call.id}.wav"
        self.recorder = StereoWavWriter(ctx.storage.writable_path(self.recording_key), line.in_rate)
        self.worker: PipelineWorker | None = None
        self._silence_prompts = 0
        self._open_assistant_message: str | None = None
        self._last_assistant_at = 0.0
        self._assistant_started_at: float | None = None
        self._db_lock = asyncio.Lock()
        self._setup_slot: SetupSlot | None = None

    # --- persistence -----------------------------------------------------------------------------------------------

    def offset_ms(self) -> int:
        return int((time.monotonic() - self.started_monotonic) * 1000)

    async def _write(self, fn: Any, **kwargs: Any) -> Any:
        """Each write is its own short transaction; the lock keeps message sequence numbers ordered."""
        async with self._db_lock, self.ctx.sessions() as db:
            result = await fn(db, **kwargs)
            await db.commit()
            return result

    async def add_message(self, role: str, content: str, *, interrupted: bool = False, **data: Any) -> None:
        if role != "assistant":
            self._open_assistant_message = None
        if not content and role != "tool":
            return
        message = await self._write(
            lifecycle.add_message,
            call=self.call,
            role=role,
            content=content,
            offset_ms=self.offset_ms(),
            interrupted=interrupted,
            data=data,
        )
        if role == "assistant":
            self._open_assistant_message = message.id
        await self.notify({"type": "transcript", "role": role, "text": content, "interrupted": interrupted})

    async def add_assistant_turn(self, content: str, *, interrupted: bool) -> None:
        """The agent's words since the caller last spoke form one message, however pipecat split them
        into turns (a greeting is spoken sentence by sentence); a barge-in marks that message."""
        now = time.monotonic()
        started, self._assistant_started_at = self._assistant_started_at or now, None
        # A pause this long means a new utterance (a reprompt after silence), not the same one going on.
        if self._open_assistant_message is None or started - self._last_assistant_at > UTTERANCE_GAP_S:
            self._last_assistant_at = now
            await self.add_message("assistant", content, interrupted=interrupted)
            return
        self._last_assistant_at = now
        if not content and not interrupted:
            return
        await self._write(
            lifecycle.extend_message, message_id=self._open_assistant_message, more=content, interrupted=interrupted
        )
        await self.notify({"type": "transcript", "role": "assistant", "text": content, "interrupted": interrupted})

    async def add_event(self, type: str, data: dict[str, Any]) -> None:
        await self._write(lifecycle.add_event, call=self.call, type=type, data=data)

    async def notify(self, message: dict[str, Any]) -> None:
        """Tell the client (browser, simulator) what happened, when the line can carry it."""
        if self.worker is not None and self.line.notifications:
            await self.worker.queue_frame(OutputTransportMessageUrgentFrame(message=message))

    # --- ending ----------------------------------------------------------------------------------------------------

    async def end(self, reason: str, *, goodbye: str | None = None) -> None:
        """End gracefully: optionally speak a goodbye, let queued audio play out, then stop."""
        if self.ending.reason is not None or self.worker is None:
            return
        self.ending.reason = reason
        frames: list[Any] = speak(goodbye) if goodbye else []
        await self.worker.queue_frames([*frames, EndFrame()])

    # --- the pipeline ----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        # Held until the greeting is queued (``_connected``) or the call ends, whichever is first.
        self._setup_slot = await call_setups().admit()
        try:
            await self._run()
        finally:
            self._setup_slot.release()

    async def _run(self) -> None:
        spec, call = self.spec, self.call
        system_prompt = fill(spec.system_prompt, call.variables)
        try:
            async with self.ctx.sessions() as db:
                stt = await build_stage(
                    db,
                    ctx=self.ctx,
                    org_id=call.org_id,
                    stage="stt",
                    config=spec.transcriber,
                    sample_rate=self.line.in_rate,
                )
                llm = await build_stage(
                    db,
                    ctx=self.ctx,
                    org_id=call.org_id,
                    stage="llm",
                    config=spec.llm,
                    sample_rate=self.line.in_rate,
                    extra={"system_instruction": system_prompt},
                )
                tts = await build_stage(
                    db, ctx=self.ctx, org_id=call.org_id, stage="tts", config=spec.voice, sample_rate=self.line.out_rate
                )
        except Exception as exc:
            log.warning("call_setup_failed", call_id=call.id, error=str(exc))
            await self._finish(status="failed", reason="setup-failed", error=str(exc))
            await self.websocket.close(code=1011, reason="the agent's providers could not start")
            return

        tools = SessionTools(session=self, spec=spec, control=self.control)
        await tools.register(llm)
        context = LLMContext()
        if tools.schemas:
            context.set_tools(ToolsSchema(standard_tools=list(tools.schemas)))
        vad_stop = spec.turn.vad_stop_secs or 0.2
        user_agg, assistant_agg = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=SharedSileroVADAnalyzer(params=VADParams(start_secs=VAD_START_SECS, stop_secs=vad_stop)),
                user_turn_strategies=user_turn_strategies(spec.turn),
                user_idle_timeout=float(spec.silence_timeout_s or 0),
            ),
        )
        transport = LineTransport(
            websocket=self.websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                audio_in_sample_rate=self.line.in_rate,
                audio_out_sample_rate=self.line.out_rate,
                serializer=self.line.serializer,
                add_wav_header=False,
                fixed_audio_packet_size=self.line.fixed_audio_packet_size,
                audio_out_10ms_chunks=self.line.out_chunk_ms // 10,
            ),
        )
        recorder = AudioBufferProcessor(
            sample_rate=self.line.in_rate,
            num_channels=2,
            buffer_size=self.line.in_rate * 2 * 2 * RECORDING_CHUNK_SECS,
        )
        hangups = ClientMessages(on_hangup=self._caller_hung_up)
        heard: list[Any] = [transport.input()]
        said: list[Any] = []
        if self.line.playback is not None:
            self.line.playback.on_interrupted = self._playback_interrupted
            heard.append(MarkReceiver(self.line.playback))
            said.append(MarkEmitter(self.line.playback))
        heard.append(hangups)
        if self.line.dtmf:
            # Key presses become a user message ("DTMF: 123") once the caller pauses or presses #.
            heard.append(DTMFAggregator(timeout=DTMF_TIMEOUT_S))
        knowledge = tools.knowledge_context(system_prompt)
        listened = [user_agg, InputAudioShortcut(recorder)]  # nothing after the user aggregator listens
        before_llm = [*listened, knowledge] if knowledge is not None else listened

        def tap() -> LatencyTap:
            return LatencyTap(self.tracker, vad_stop_secs=vad_stop)

        pipeline = Pipeline(
            [
                *heard,
                stt,
                tap(),
                *before_llm,
                llm,
                tap(),
                tts,
                tap(),
                *said,
                transport.output(),
                recorder,
                assistant_agg,
            ]
        )
        self.worker = PipelineWorker(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=self.line.in_rate,
                audio_out_sample_rate=self.line.out_rate,
                enable_metrics=True,
            ),
            enable_rtvi=False,
            idle_timeout_secs=None,
            # No observers at all (latency comes from the taps): pipecat hands an observer every frame
            # each processor pushes or processes, through a queue and a task.
            enable_turn_tracking=False,
        )
        self._wire_events(transport, user_agg, assistant_agg, recorder)
        self._record_failovers(stt, llm, tts)
        # The prompt goes to the LLM as its system instruction (the first frame, ahead of any inference).
        await self.worker.queue_frame(LLMUpdateSettingsFrame(delta=LLMSettings(system_instruction=system_prompt)))
        watchdog = asyncio.create_task(self._max_duration_watchdog())
        try:
            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(self.worker)
            await runner.run()
        except Exception as exc:
            log.exception("call_failed", call_id=call.id)
            self.ending.status, self.ending.error = "failed", str(exc)
            self.ending.reason = self.ending.reason or "error"
        finally:
            watchdog.cancel()
            if self.ending.reason in AGENT_ENDINGS:
                await self._hang_up_line()
            await self._finish(
                status=self.ending.status, reason=self.ending.reason or "caller-hangup", error=self.ending.error
            )

    async def _hang_up_line(self) -> None:
        """The agent ended the call: make sure the line is down too (a carrier call is hung up)."""
        try:
            await self.control.hangup()
        except Exception as exc:
            log.warning("line_hangup_failed", call_id=self.call.id, error=str(exc))

    async def _playback_interrupted(self, report: dict[str, Any]) -> None:
        await self.add_event("playback.interrupted", report)

    def _wire_events(self, transport: Any, user_agg: Any, assistant_agg: Any, recorder: Any) -> None:
        spec = self.spec

        @transport.event_handler("on_client_connected")
        async def _connected(_transport: Any, _client: Any) -> None:
            self.started_monotonic = time.monotonic()
            await self._write(lifecycle.mark_in_progress, call_id=self.call.id)
            if spec.recording:
                await recorder.start_recording()
            if spec.first_speaker == "agent":
                assert self.worker is not None
                if spec.first_message:
                    await self.worker.queue_frames(speak(fill(spec.first_message, self.call.variables)))
                else:
                    # No scripted greeting: the LLM opens the conversation from its prompt.
                    await self.worker.queue_frame(LLMRunFrame())
            if self._setup_slot is not None:
                self._setup_slot.release()

        @transport.event_handler("on_client_disconnected")
        async def _disconnected(_transport: Any, _client: Any) -> None:
            if self.ending.reason is None:
                self.ending.reason = "caller-hangup"
            assert self.worker is not None
            await self.worker.cancel()

        @recorder.event_handler("on_audio_data")
        async def _audio(_buffer: Any, audio: bytes, sample_rate: int, _channels: int) -> None:
            await asyncio.to_thread(self.recorder.write, audio, sample_rate)

        @user_agg.event_handler("on_user_turn_stopped")
        async def _user_turn(_agg: Any, _strategy: Any, message: Any) -> None:
            self._silence_prompts = 0
            await self.add_message("user", (message.content or "").strip())

        @user_agg.event_handler("on_user_turn_idle")
        async def _idle(_agg: Any) -> None:
            self._silence_prompts += 1
            if self._silence_prompts == 1:
                assert self.worker is not None
                await self.worker.queue_frame(
                    LLMMessagesAppendFrame(messages=[{"role": "system", "content": SILENCE_REPROMPT}], run_llm=True)
                )
            else:
                await self.end("silence-timeout", goodbye=SILENCE_GOODBYE)

        @assistant_agg.event_handler("on_assistant_turn_started")
        async def _assistant_turn_started(_agg: Any) -> None:
            self._assistant_started_at = time.monotonic()

        @assistant_agg.event_handler("on_assistant_turn_stopped")
        async def _assistant_turn(_agg: Any, message: Any) -> None:
            text = (message.content or "").strip()
            await self.add_assistant_turn(text, interrupted=bool(message.interrupted))
            if self.tracker.turns:
                await self.notify({"type": "latency", **self.tracker.turns[-1].as_dict()})
            lowered = text.lower()
            if any(p.lower() in lowered for p in spec.end_call_phrases):
                await self.end("end-call-phrase")

    async def _caller_hung_up(self) -> None:
        if self.ending.reason is None:
            self.ending.reason = "caller-hangup"
        if self.worker is not None:
            await self.worker.cancel()

    def _record_failovers(self, *services: Any) -> None:
        """A provider switch mid-call is part of the call's story: keep it as an event."""
        for service in services:
            if not isinstance(service, FailoverLLMSwitcher | FailoverServiceSwitcher):
                continue

            @service.event_handler("on_failover")
            async def _failover(switcher: Any, failed: Any, active: Any, error: Any) -> None:
                data = {"stage": switcher.stage, "failed": failed.name, "now": active.name, "error": str(error.error)}
                await self.add_event("provider.failover", data)

    async def _max_duration_watchdog(self) -> None:
        if not self.spec.max_duration_s:
            return
        await asyncio.sleep(self.spec.max_duration_s)
        await self.end("max-duration", goodbye=MAX_DURATION_GOODBYE)

    async def _finish(self, *, status: str, reason: str, error: str | None) -> None:
        # The line is down and nobody waits for what follows (the record, events, webhooks, analysis):
        # it takes its turn like a set-up, so that calls ending together do not hold up those still on.
        if self._setup_slot is not None:
            self._setup_slot.release()
        slot = await call_setups().admit()
        try:
            await self._write_end(status=status, reason=reason, error=error)
        finally:
            slot.release()

    async def _write_end(self, *, status: str, reason: str, error: str | None) -> None:
        has_audio = await asyncio.to_thread(self.recorder.close)
        await self._write(
            lifecycle.finish,
            call_id=self.call.id,
            status=status,
            end_reason=reason,
            latency=self.tracker.summary(),
            recording_key=self.recording_key if has_audio else None,
            error=error,
        )
        await concurrency.release(self.ctx, org_id=self.call.org_id, call_id=self.call.id)
