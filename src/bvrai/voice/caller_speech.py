"""Speech for simulated callers: the local TTS voice, at the 16 kHz the web line carries."""

from __future__ import annotations

import numpy as np
import soxr

from bvrai.voice.web_serializer import WEB_SAMPLE_RATE

HIBARI_RATE = 24000


def synthesize(text: str) -> bytes:
    """PCM16 mono at 16 kHz of ``text`` spoken by the bundled hibari voice (needs the local extra)."""
    from bvrai.providers.local.models import hibari_voice_file
    from bvrai.providers.local.tts import load_voice

    voice = load_voice("heart", hibari_voice_file())
    with voice.lock:
        audio = np.asarray(voice.model(text), dtype=np.float32)
    resampled = soxr.resample(audio, HIBARI_RATE, WEB_SAMPLE_RATE)
    pcm: bytes = (np.clip(resampled, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return pcm
