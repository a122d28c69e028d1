"""Speech on a phone line for tests: the caller's lines synthesised with the local voice and sent as
μ-law 8 kHz; the agent's μ-law audio transcribed with the local Whisper."""

from __future__ import annotations

import asyncio

import numpy as np
import soxr

from bvrai.voice.caller_speech import synthesize
from tests.fakes.audio import mulaw_to_pcm16, pcm16_to_mulaw


def to_line(pcm16_16k: bytes) -> bytes:
    samples = np.frombuffer(pcm16_16k, dtype="<i2").astype(np.float32) / 32768.0
    narrow = soxr.resample(samples, 16000, 8000)
    return pcm16_to_mulaw((np.clip(narrow, -1, 1) * 32767).astype("<i2").tobytes())


async def caller_line(text: str) -> bytes:
    """``text`` as the caller says it down a phone line: μ-law, 8 kHz."""
    return to_line(await asyncio.to_thread(synthesize, text))


def _transcribe(mulaw: bytes) -> str:
    from bvrai.providers.local.models import whisper_model_dir
    from bvrai.providers.local.stt import load_whisper

    samples = np.frombuffer(mulaw_to_pcm16(mulaw), dtype="<i2").astype(np.float32) / 32768.0
    wide = soxr.resample(samples, 8000, 16000).astype(np.float32)
    segments, _ = load_whisper(whisper_model_dir()).transcribe(wide, language="en", beam_size=1)
    return " ".join(s.text.strip() for s in segments).strip()


async def transcribe(mulaw: bytes) -> str:
    return await asyncio.to_thread(_transcribe, mulaw)
