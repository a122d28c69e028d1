"""What the caller actually heard, from the carrier's playback marks.

A carrier buffers the agent's audio and plays it in real time; what left the server is not yet what
the caller heard. ``MarkEmitter`` (just before the transport's output) puts a named mark into the
outgoing stream after every utterance and every ``MARK_EVERY_MS`` of audio; the carrier echoes a mark
once the audio before it has played (Twilio ``mark``, Telnyx ``mark``, Vonage ``notify``, Plivo
``checkpoint``). ``MarkReceiver`` (just after the input) reads the echoes. On a barge-in the tracker
knows how much audio the agent had queued for the caller and how much the caller had heard, and
reports both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pipecat.frames.frames import (
    Frame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

MARK_EVERY_MS = 500


@dataclass
class PlaybackTracker:
    make_mark: Callable[[str], dict[str, Any]]
    on_interrupted: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    sent_ms: float = 0.0
    played_ms: float = 0.0
    marks_sent: int = 0
    marks_echoed: int = 0
    _pending: dict[str, float] = field(default_factory=dict)
    _since_mark_ms: float = 0.0

    def next_mark(self) -> dict[str, Any]:
        self.marks_sent += 1
        name = f"m{self.marks_sent}"
        self._pending[name] = self.sent_ms
        self._since_mark_ms = 0.0
        return self.make_mark(name)

    def echoed(self, name: str) -> None:
        position = self._pending.pop(name, None)
        if position is not None:
            self.marks_echoed += 1
            self.played_ms = max(self.played_ms, position)

    async def interrupted(self) -> None:
        """The caller barged in: marks still pending were flushed unplayed, and their echoes mean nothing."""
        if not self._pending and self.played_ms >= self.sent_ms:
            return
        report = {"audio_queued_ms": round(self.sent_ms), "audio_played_ms": round(self.played_ms)}
        self._pending.clear()
        self.played_ms = self.sent_ms  # nothing queued any more: the next audio starts from here
        if self.on_interrupted is not None:
            await self.on_interrupted(report)


class MarkEmitter(FrameProcessor):
    def __init__(self, tracker: PlaybackTracker) -> None:
        # Direct mode: no queue and task of its own. It only counts audio and adds a mark now and
        # then, so a hop through a queue on every output frame would cost more than its work.
        super().__init__(enable_direct_mode=True)
        self.tracker = tracker

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            await self.tracker.interrupted()
        await self.push_frame(frame, direction)
        if direction != FrameDirection.DOWNSTREAM:
            return
        if isinstance(frame, OutputAudioRawFrame) and frame.sample_rate:
            ms = len(frame.audio) / (2 * frame.num_channels * frame.sample_rate) * 1000
            self.tracker.sent_ms += ms
            self.tracker._since_mark_ms += ms
            if self.tracker._since_mark_ms >= MARK_EVERY_MS:
                await self.push_frame(OutputTransportMessageFrame(message=self.tracker.next_mark()))
        elif isinstance(frame, TTSStoppedFrame) and self.tracker._since_mark_ms > 0:
            await self.push_frame(OutputTransportMessageFrame(message=self.tracker.next_mark()))


class MarkReceiver(FrameProcessor):
    """Consumes the carrier's mark echoes (``{"type": "mark", "name": ...}`` from the serializer)."""

    def __init__(self, tracker: PlaybackTracker) -> None:
        # Direct mode, as MarkEmitter: every input audio frame passes here.
        super().__init__(enable_direct_mode=True)
        self.tracker = tracker

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        message = frame.message if isinstance(frame, InputTransportMessageFrame) else None
        if isinstance(message, dict) and message.get("type") == "mark":
            self.tracker.echoed(str(message.get("name")))
            return
        await self.push_frame(frame, direction)
