"""Per-turn latency milestones, read off the pipeline by taps instead of a pipecat observer.

A pipecat observer is handed every frame every processor pushes and every frame every processor
processes, each through a queue and a task of its own: on a phone call that is thousands of hand-offs
a second for six kinds of frame. A ``LatencyTap`` is a pass-through processor in direct mode (no
queue, no task) placed where its frames pass: after the transcriber (transcripts going down; the
caller's VAD events and the agent starting to speak going up), after the LLM (its first text) and
after the TTS (its first audio).
"""

from __future__ import annotations

import time

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    Frame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from bvrai.voice.latency import TurnLatencyTracker


class LatencyTap(FrameProcessor):
    """Stamps the milestones of the frames that pass it; every frame goes on unchanged.

    VAD reports the caller stopped only after ``vad_stop_secs`` of silence, so the turn's clock is
    set back by that much: latency is measured from the end of the caller's speech, as they hear it.
    A frame broadcast both ways, or seen by two taps, stamps once: the tracker keeps a milestone's
    first time.
    """

    def __init__(self, tracker: TurnLatencyTracker, *, vad_stop_secs: float) -> None:
        super().__init__(enable_direct_mode=True)
        self.tracker = tracker
        self.vad_stop_secs = vad_stop_secs

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            if direction == FrameDirection.UPSTREAM:  # broadcast both ways: one stop, not two
                self.tracker.user_stopped(time.monotonic() - self.vad_stop_secs)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self.tracker.user_started()
        elif isinstance(frame, TranscriptionFrame):
            self.tracker.mark("transcript_ms", time.monotonic())
        elif isinstance(frame, LLMTextFrame):
            self.tracker.mark("llm_first_token_ms", time.monotonic())
        elif isinstance(frame, TTSAudioRawFrame):
            self.tracker.mark("tts_first_audio_ms", time.monotonic())
        elif isinstance(frame, BotStartedSpeakingFrame):
            self.tracker.mark("bot_started_ms", time.monotonic())
        await self.push_frame(frame, direction)
