"""A stereo WAV written while the call runs: the caller on the left channel, the agent on the right.

pipecat's AudioBufferProcessor hands over interleaved stereo PCM every few seconds of audio; each
chunk is appended to the file at once, so the call is never held in memory. ``wave`` rewrites the
header's sizes when the file is closed.
"""

from __future__ import annotations

import wave
from pathlib import Path


class StereoWavWriter:
    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self._wav: wave.Wave_write | None = None
        self.frames_written = 0

    def write(self, interleaved_pcm16: bytes, sample_rate: int) -> None:
        if not interleaved_pcm16:
            return
        if self._wav is None:
            self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
            self._wav.setnchannels(2)
            self._wav.setsampwidth(2)
            self._wav.setframerate(sample_rate)
            self.sample_rate = sample_rate
        self._wav.writeframes(interleaved_pcm16)
        self.frames_written += len(interleaved_pcm16) // 4

    def close(self) -> bool:
        """Finish the file; False when no audio was ever written (no file is left behind)."""
        if self._wav is None:
            return False
        self._wav.close()
        self._wav = None
        return True
