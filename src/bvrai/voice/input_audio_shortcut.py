"""The caller's audio skips the processors that have no use for it.

pipecat passes every input audio frame down the whole pipeline: after the user aggregator (the
last processor that listens, for VAD and turn-taking) it still crosses the LLM, the TTS, the
latency taps, the mark emitter and the output transport, three of them with a queue and a task of
their own, only to reach the recorder near the end. ``InputAudioShortcut`` sits right after the user
aggregator and hands each input audio frame straight to the recorder instead. The recorder places
audio by the wall-clock time it arrives, not by its order among other frames, so arriving a few
processors earlier changes nothing in the recording. Every other frame goes on as before.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


class InputAudioShortcut(FrameProcessor):
    def __init__(self, recorder: FrameProcessor) -> None:
        # Direct mode: every input frame passes here, and the work is one hand-over.
        super().__init__(enable_direct_mode=True)
        self._recorder = recorder

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame) and direction == FrameDirection.DOWNSTREAM:
            await self._recorder.queue_frame(frame, direction)
            return
        await self.push_frame(frame, direction)
