"""The local text-to-speech service: hibari-tts (voice ``heart``, 24 kHz) as a pipecat service.

One ``Hibari`` model per voice is loaded per process (~0.5 s, in a worker thread when the first pipeline
starts) and shared by every call. Each sentence is synthesised in a worker thread (~12 ms for a short
one on one core), then cut into short ``TTSAudioRawFrame``s: the transport can start playing the first
frame at once, and on barge-in pipecat drops the frames not yet played instead of one long frame that
has already been handed over.

pipecat's TTS base aggregates the LLM's tokens into sentences before calling ``run_tts``, so audio starts
after the first sentence, not after the whole reply; a longer text (a first message, a ``TTSSpeakFrame``)
is synthesised sentence by sentence for the same reason.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from hibari import SAMPLE_RATE as HIBARI_SAMPLE_RATE
from hibari import Hibari
from pipecat.frames.frames import ErrorFrame, Frame, StartFrame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.utils.types import NOT_GIVEN, NotGiven

from bvrai.providers.base import ProviderContext
from bvrai.providers.local.models import hibari_voice_file

log = structlog.get_logger(__name__)

MIN_SPEED, MAX_SPEED = 0.5, 2.0  # hibari's range, also the agent spec's


@dataclass
class _Voice:
    model: Hibari
    # hibari does not promise its text front end (tagger, lexicon caches) is thread-safe; a lock per voice
    # costs little because one sentence takes milliseconds, and calls interleave sentence by sentence.
    lock: threading.Lock = field(default_factory=threading.Lock)


_voices: dict[tuple[str, str], _Voice] = {}
_voices_lock = threading.Lock()
load_count = 0  # how many times a voice was actually read from disk; tests check it stays at one


def load_voice(voice: str, model_file: Path) -> _Voice:
    """The shared model for ``voice``, loading it on first use (blocking; call it in a thread)."""
    global load_count
    key = (voice, str(model_file))
    with _voices_lock:
        loaded = _voices.get(key)
        if loaded is None:
            started = time.monotonic()
            # Passing the file keeps hibari from looking the voice up itself, which may download it.
            model = Hibari(voice=voice, model=str(model_file))
            model("Ready.")  # builds the G2P (lexicons, tagger) now instead of during the first call's reply
            loaded = _Voice(model)
            _voices[key] = loaded
            load_count += 1
            log.info("local_tts_loaded", voice=voice, seconds=round(time.monotonic() - started, 2))
        return loaded


@dataclass
class HibariTTSSettings(TTSSettings):
    """Settings for ``LocalHibariTTSService``; ``speed`` is hibari's pace (1.0 = the voice's own)."""

    speed: float | NotGiven = field(default_factory=lambda: NOT_GIVEN)


class LocalHibariTTSService(TTSService):
    """Speaks text with a process-wide hibari voice, sentence by sentence, in short audio frames."""

    Settings = HibariTTSSettings
    _settings: HibariTTSSettings

    def __init__(
        self,
        *,
        voice: str = "heart",
        model_file: Path,
        speed: float = 1.0,
        frame_secs: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=HibariTTSSettings(model=None, voice=voice, language="en", speed=_clamp_speed(speed)),
            **kwargs,
        )
        self._voice_name = voice
        self._model_file = model_file
        self._frame_secs = frame_secs
        self._voice: _Voice | None = None

    def can_generate_metrics(self) -> bool:
        return True

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if self._voice is None:
            self._voice = await asyncio.to_thread(load_voice, self._voice_name, self._model_file)

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        voice = self._voice
        if voice is None:
            yield ErrorFrame("local TTS voice is not loaded")
            return
        speed = self._settings.speed if isinstance(self._settings.speed, float | int) else 1.0
        await self.start_tts_usage_metrics(text)
        sentences = _SentenceAudio(voice, text, float(speed))
        try:
            while (audio := await asyncio.to_thread(sentences.next)) is not None:
                await self.stop_ttfb_metrics()
                pcm = _to_pcm16(audio)
                if self.sample_rate != HIBARI_SAMPLE_RATE:
                    pcm = await self._resampler.resample(pcm, HIBARI_SAMPLE_RATE, self.sample_rate)
                step = max(2, int(self.sample_rate * self._frame_secs) * 2)
                for offset in range(0, len(pcm), step):
                    yield TTSAudioRawFrame(pcm[offset : offset + step], self.sample_rate, 1, context_id=context_id)
        finally:
            await self.stop_ttfb_metrics()


class _SentenceAudio:
    """Synthesises a text one sentence per ``next()`` call, so each call can run in its own thread hop."""

    def __init__(self, voice: _Voice, text: str, speed: float) -> None:
        self._voice = voice
        self._speed = speed
        self._phonemes: Iterator[str] | None = None
        self._text = text

    def next(self) -> np.ndarray | None:
        with self._voice.lock:
            model = self._voice.model
            if self._phonemes is None:
                self._phonemes = iter(model.phonemize(self._text))
            for phonemes in self._phonemes:
                audio: np.ndarray = model.from_ids(model.ids(phonemes), self._speed)
                if audio.size:
                    return audio
            return None


def _to_pcm16(audio: np.ndarray) -> bytes:
    pcm: bytes = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return pcm


def _clamp_speed(speed: float | None) -> float:
    return min(MAX_SPEED, max(MIN_SPEED, float(speed or 1.0)))


def create_tts_service(config: Any, ctx: ProviderContext) -> LocalHibariTTSService:
    """Factory for ``("tts", "local")``: a ``LocalHibariTTSService`` for a ``VoiceConfig``.

    The service follows the pipeline's output rate (8 kHz on phone calls), resampling hibari's 24 kHz.
    """
    voice = getattr(config, "voice_id", None) or "heart"
    return LocalHibariTTSService(
        voice=voice, model_file=hibari_voice_file(voice), speed=_clamp_speed(getattr(config, "speed", 1.0))
    )


async def preload(voice: str = "heart") -> None:
    """Load the voice now (in a thread), so the first call does not wait for it."""
    await asyncio.to_thread(load_voice, voice, hibari_voice_file(voice))
