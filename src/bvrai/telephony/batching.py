"""Fewer, longer input audio frames on a phone line.

A carrier sends the caller's audio as 20 ms messages, and pipecat turns each into a frame that
travels through every processor of the pipeline (a queue and a task switch each, the observers,
the STT socket's own message). At 8 kHz that per-frame work, not the audio itself, is most of the
input path's CPU: ~0.6 ms per frame, 50 frames a second. ``BatchedInputAudio`` wraps a serializer
and hands the pipeline one frame per ``INPUT_FRAME_MS`` of audio instead. Each frame then waits
for at most ``INPUT_FRAME_MS - 20`` ms; pipecat's stream resampler (8 → 16 kHz) already buffers
~95 ms before it outputs anything, so batching at the line's own rate is no later than upsampling was.
Frames other than the caller's audio (DTMF, marks, hang-ups) pass at once.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, InputAudioRawFrame

INPUT_FRAME_MS = 80


class BatchedInputAudio:
    """Mixin for a ``FrameSerializer``: its input audio frames, joined up to ``INPUT_FRAME_MS``."""

    input_frame_ms: int = INPUT_FRAME_MS
    _pending_audio: bytearray | None = None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        frame: Frame | None = await super().deserialize(data)  # type: ignore[misc]
        if not isinstance(frame, InputAudioRawFrame):
            return frame
        if self._pending_audio is None:
            self._pending_audio = bytearray()
        self._pending_audio += frame.audio
        wanted = frame.sample_rate * frame.num_channels * 2 * self.input_frame_ms // 1000
        if len(self._pending_audio) < wanted:
            return None
        audio, self._pending_audio = bytes(self._pending_audio), bytearray()
        return InputAudioRawFrame(audio=audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels)
