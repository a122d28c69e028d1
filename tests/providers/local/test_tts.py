"""The local TTS speaks a sentence as several short 24 kHz frames, with one hibari model per process."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import Frame, TTSAudioRawFrame, TTSSpeakFrame, TTSStartedFrame, TTSStoppedFrame
from pipecat.pipeline.worker import PipelineParams

from bvrai.agents.spec import VoiceConfig
from bvrai.providers.base import ProviderContext
from bvrai.providers.local import create_tts_service, tts
from tests.providers.local.harness import run_service

CTX = ProviderContext(org_id="org_test")
SENTENCE = "Thanks for calling Acme Dental, how can I help you today?"


def _stopped(frames: list[Frame]) -> bool:
    return any(isinstance(f, TTSStoppedFrame) for f in frames)


async def _speak(service: tts.LocalHibariTTSService, text: str, rate: int = 24000) -> list[TTSAudioRawFrame]:
    frames = await run_service(
        service, [TTSSpeakFrame(text)], until=_stopped, params=PipelineParams(audio_out_sample_rate=rate)
    )
    assert any(isinstance(f, TTSStartedFrame) for f in frames)
    return [f for f in frames if isinstance(f, TTSAudioRawFrame)]


async def test_a_sentence_becomes_half_a_second_or_more_of_24khz_audio_in_several_frames():
    service = create_tts_service(VoiceConfig(), CTX)
    assert isinstance(service, tts.LocalHibariTTSService)
    audio = await _speak(service, SENTENCE)

    assert all(f.sample_rate == 24000 and f.num_channels == 1 for f in audio)
    seconds = sum(len(f.audio) for f in audio) / 2 / 24000
    assert seconds >= 0.5
    assert len(audio) >= 5  # ~0.1 s frames, not one block the transport could not cut on barge-in
    assert max(len(f.audio) for f in audio) <= 2 * int(24000 * 0.1)


async def test_a_second_service_shares_the_loaded_voice():
    first = create_tts_service(VoiceConfig(), CTX)
    await _speak(first, "One.")
    loads = tts.load_count
    second = create_tts_service(VoiceConfig(), CTX)
    await _speak(second, "Two.")
    assert tts.load_count == loads == 1
    assert second._voice is first._voice


async def test_speed_from_the_spec_changes_the_pace():
    normal = await _speak(create_tts_service(VoiceConfig(speed=1.0), CTX), SENTENCE)
    fast = await _speak(create_tts_service(VoiceConfig(speed=1.6), CTX), SENTENCE)
    assert sum(len(f.audio) for f in fast) < 0.8 * sum(len(f.audio) for f in normal)


async def test_phone_pipelines_get_the_voice_resampled_to_8khz():
    audio = await _speak(create_tts_service(VoiceConfig(), CTX), SENTENCE, rate=8000)
    assert {f.sample_rate for f in audio} == {8000}
    assert sum(len(f.audio) for f in audio) / 2 / 8000 >= 0.5


async def test_two_calls_can_speak_at_once():
    one, two = create_tts_service(VoiceConfig(), CTX), create_tts_service(VoiceConfig(), CTX)
    a, b = await asyncio.gather(_speak(one, SENTENCE), _speak(two, "Please hold while I check that."))
    assert a and b
