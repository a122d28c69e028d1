"""The local STT transcribes speech made by the local TTS, through a pipeline, with one Whisper per process."""

from __future__ import annotations

import time

import pytest
from pipecat.audio.utils import create_file_resampler
from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.pipeline.worker import PipelineParams

from bvrai.agents.spec import TranscriberConfig
from bvrai.providers.base import ProviderContext, ProviderRequestError
from bvrai.providers.local import create_stt_service, stt, tts
from bvrai.providers.local.models import hibari_voice_file
from tests.providers.local.harness import read_wav, run_service, utterance_frames, word_error_rate, write_wav

CTX = ProviderContext(org_id="org_test")
SENTENCE = "Hello, I would like to book an appointment for next Tuesday morning."


@pytest.fixture(scope="module")
def speech_wav() -> bytes:
    """The sentence spoken by the local TTS, as a 24 kHz WAV file's bytes."""
    voice = tts.load_voice("heart", hibari_voice_file("heart"))
    audio = voice.model(SENTENCE, seed=0)
    pcm = (audio.clip(-1, 1) * 32767).astype("<i2").tobytes()
    return write_wav(pcm, 24000)


async def _pcm_at(wav: bytes, rate: int) -> bytes:
    pcm, source_rate = read_wav(wav)
    return await create_file_resampler().resample(pcm, source_rate, rate)


def _transcribed(frames: list[Frame]) -> bool:
    return any(isinstance(f, TranscriptionFrame) for f in frames)


async def _transcribe(service: stt.LocalWhisperSTTService, pcm: bytes, rate: int) -> str:
    frames = await run_service(
        service, utterance_frames(pcm, rate), until=_transcribed, params=PipelineParams(audio_in_sample_rate=rate)
    )
    return " ".join(f.text for f in frames if isinstance(f, TranscriptionFrame))


async def test_speech_from_the_local_tts_is_transcribed_word_for_word(speech_wav):
    service = create_stt_service(TranscriberConfig(language="en-US"), CTX)
    assert isinstance(service, stt.LocalWhisperSTTService)
    text = await _transcribe(service, await _pcm_at(speech_wav, 16000), 16000)
    assert word_error_rate(SENTENCE, text) <= 0.1, text


async def test_8khz_phone_audio_is_resampled_for_whisper(speech_wav):
    service = create_stt_service(TranscriberConfig(), CTX)
    text = await _transcribe(service, await _pcm_at(speech_wav, 8000), 8000)
    assert word_error_rate(SENTENCE, text) <= 0.2, text


async def test_every_service_shares_one_model_and_a_warm_one_is_quick(speech_wav):
    pcm = await _pcm_at(speech_wav, 16000)
    first = create_stt_service(TranscriberConfig(), CTX)
    await _transcribe(first, pcm, 16000)
    second = create_stt_service(TranscriberConfig(), CTX)
    started = time.monotonic()
    await _transcribe(second, pcm, 16000)
    assert time.monotonic() - started < 5  # ~0.5 s on two idle cores; generous for a busy machine
    assert stt.load_count == 1
    assert second._model is first._model


def test_the_english_only_model_refuses_another_language():
    with pytest.raises(ProviderRequestError, match="English only"):
        create_stt_service(TranscriberConfig(language="fr"), CTX)
