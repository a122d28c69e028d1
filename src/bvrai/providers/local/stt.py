"""The local speech-to-text service: faster-whisper with the bundled Whisper tiny.en, as a pipecat service.

pipecat's own ``WhisperSTTService`` can read a local CTranslate2 folder, but it loads the model in
``__init__`` for every call session (about a second with the event loop blocked) and decodes with beam
5. Here the ``WhisperModel`` is loaded once per process and shared by every session: CTranslate2 models
are safe to call from several threads (concurrent calls queue inside CTranslate2). The load happens in
a worker thread when the first pipeline starts, and each utterance is transcribed in a worker thread,
so the event loop that carries every call's audio never waits on the model.

Whisper is not a streaming recogniser: the service is a ``SegmentedSTTService``, which buffers the
caller's audio between the VAD's start and stop and transcribes the whole utterance (~0.4 s for tiny.en
on two cores). It expects a VAD upstream (the user context aggregator's ``vad_analyzer``).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from faster_whisper import WhisperModel
from pipecat.audio.utils import create_file_resampler
from pipecat.frames.frames import ErrorFrame, Frame, StartFrame, TranscriptionFrame
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import SegmentedSTTService
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601

from bvrai.providers.base import ProviderContext, ProviderRequestError
from bvrai.providers.local.models import whisper_model_dir

log = structlog.get_logger(__name__)

WHISPER_SAMPLE_RATE = 16000

# One model per (folder, device, compute type) for the life of the process.
_models: dict[tuple[str, str, str], WhisperModel] = {}
_models_lock = threading.Lock()
load_count = 0  # how many times a model was actually read from disk; tests check it stays at one


def load_whisper(model_dir: Path, *, device: str = "cpu", compute_type: str = "int8") -> WhisperModel:
    """The shared ``WhisperModel`` for ``model_dir``, loading it on first use (blocking; call it in a thread).

    int8 is the fastest compute type on CPU and costs tiny.en nothing measurable in accuracy.
    """
    global load_count
    key = (str(Path(model_dir).resolve()), device, compute_type)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            started = time.monotonic()
            # CTranslate2 defaults to 4 threads even on 2 cores; more threads than cores only adds contention.
            threads = max(1, min(4, os.cpu_count() or 1))
            model = WhisperModel(key[0], device=device, compute_type=compute_type, cpu_threads=threads)
            _models[key] = model
            load_count += 1
            log.info("local_stt_loaded", model=key[0], seconds=round(time.monotonic() - started, 2))
        return model


def whisper_language(language: str | None) -> str:
    """The base code Whisper takes (``en`` from ``en-US``); English when the spec leaves it out."""
    return (language or "en").split("-")[0].lower()


class LocalWhisperSTTService(SegmentedSTTService):
    """Transcribes each VAD-delimited utterance with a process-wide faster-whisper model."""

    def __init__(
        self,
        *,
        model_dir: Path,
        model_name: str = "tiny.en",
        language: str = "en",
        beam_size: int = 1,
        compute_type: str = "int8",
        **kwargs: Any,
    ) -> None:
        super().__init__(settings=STTSettings(model=model_name, language=language), **kwargs)
        self._model_dir = model_dir
        self._language = language
        # Greedy decoding: on short phone utterances beam 5 costs ~2x the time for no measurable gain.
        self._beam_size = beam_size
        self._compute_type = compute_type
        self._model: WhisperModel | None = None
        self._resampler = create_file_resampler()

    @property
    def wants_wav_segments(self) -> bool:
        # The model reads raw 16-bit PCM; a WAV header would be decoded as a click of noise.
        return False

    def can_generate_metrics(self) -> bool:
        return True

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if self._model is None:
            self._model = await asyncio.to_thread(load_whisper, self._model_dir, compute_type=self._compute_type)

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        model = self._model
        if model is None:
            yield ErrorFrame("local Whisper model is not loaded")
            return
        await self.start_processing_metrics()
        if self.sample_rate != WHISPER_SAMPLE_RATE:
            # Phone pipelines may run at 8 kHz; Whisper was trained on 16 kHz and mis-hears anything else.
            audio = await self._resampler.resample(audio, self.sample_rate, WHISPER_SAMPLE_RATE)
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        text = await asyncio.to_thread(self._transcribe, model, samples)
        await self.stop_processing_metrics()
        if text:
            yield TranscriptionFrame(text, self._user_id, time_now_iso8601(), _pipecat_language(self._language))

    def _transcribe(self, model: WhisperModel, samples: np.ndarray) -> str:
        # `transcribe` returns a lazy generator that decodes as it is consumed: consume it here, in the thread.
        segments, _info = model.transcribe(
            samples,
            language=self._language,
            beam_size=self._beam_size,
            # Each utterance stands alone: conditioning on earlier text makes Whisper repeat itself.
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,  # pipecat's Silero VAD already cut the utterance
        )
        return " ".join(segment.text.strip() for segment in segments).strip()


def _pipecat_language(code: str) -> Language | None:
    try:
        return Language(code)
    except ValueError:
        return None


def create_stt_service(config: Any, ctx: ProviderContext) -> LocalWhisperSTTService:
    """Factory for ``("stt", "local")``: a ``LocalWhisperSTTService`` for a ``TranscriberConfig``."""
    model_name = getattr(config, "model", None) or "tiny.en"
    language = whisper_language(getattr(config, "language", None))
    if model_name.endswith(".en") and language != "en":
        raise ProviderRequestError(
            "stt:local", f"the bundled Whisper model {model_name!r} transcribes English only, not {language!r}"
        )
    return LocalWhisperSTTService(model_dir=whisper_model_dir(model_name), model_name=model_name, language=language)


async def preload(model: str = "tiny.en") -> None:
    """Load the model now (in a thread), so the first call does not wait for it."""
    await asyncio.to_thread(load_whisper, whisper_model_dir(model))
