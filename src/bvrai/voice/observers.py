"""Pipeline observers that feed the call record: per-turn latency milestones."""

from __future__ import annotations

import time

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed

from bvrai.voice.latency import TurnLatencyTracker


class LatencyObserver(BaseObserver):
    """Stamps each milestone the first time its frame is pushed anywhere in the pipeline.

    VAD reports the caller stopped only after ``vad_stop_secs`` of silence, so the turn's clock is
    set back by that much: latency is measured from the end of the caller's speech, as they hear it.
    """

    def __init__(self, tracker: TurnLatencyTracker, *, vad_stop_secs: float) -> None:
        super().__init__()
        self.tracker = tracker
        self.vad_stop_secs = vad_stop_secs

    async def on_push_frame(self, data: FramePushed) -> None:
        frame, now = data.frame, time.monotonic()
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self.tracker.user_stopped(now - self.vad_stop_secs)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self.tracker.user_started()
        elif isinstance(frame, TranscriptionFrame):
            self.tracker.mark("transcript_ms", now)
        elif isinstance(frame, LLMTextFrame):
            self.tracker.mark("llm_first_token_ms", now)
        elif isinstance(frame, TTSAudioRawFrame):
            self.tracker.mark("tts_first_audio_ms", now)
        elif isinstance(frame, BotStartedSpeakingFrame):
            self.tracker.mark("bot_started_ms", now)
