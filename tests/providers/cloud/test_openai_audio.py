"""OpenAI transcription (per utterance) and speech against the fake."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    InputAudioRawFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)

from bvrai.agents.spec import TranscriberConfig, VoiceConfig
from bvrai.providers.base import MissingCredential, ProviderAuthError, ProviderContext
from bvrai.providers.cloud.openai import openai_stt, openai_tts
from tests.fakes.audio import tone
from tests.fakes.openai import OpenAIFake
from tests.providers.cloud.harness import Harness

RATE = 16000


def ctx(fake: OpenAIFake, secret: str | None = None) -> ProviderContext:
    return ProviderContext(
        org_id="org_test",
        secret=secret or fake.api_key,
        base_url=fake.url + "/v1",
        sample_rate=RATE,
        extra={"max_retries": 0},
    )


async def speak(h: Harness, seconds: float = 0.5) -> None:
    pcm = tone(seconds, RATE)
    await h.queue(VADUserStartedSpeakingFrame())
    await h.queue(*[InputAudioRawFrame(pcm[i : i + 640], RATE, 1) for i in range(0, len(pcm), 640)])
    await h.queue(VADUserStoppedSpeakingFrame())


async def test_an_utterance_is_sent_as_wav_and_its_transcript_comes_back(openai_fake: OpenAIFake) -> None:
    openai_fake.say_transcripts("I'd like to book a table.")
    stt = openai_stt(TranscriberConfig(provider="openai", language="en"), ctx(openai_fake))
    async with Harness(stt) as h:
        await speak(h)
        finals = await h.wait_for(TranscriptionFrame)
    assert finals[0].text == "I'd like to book a table."
    request = openai_fake.last_request
    assert request.path == "/v1/audio/transcriptions"
    assert request.body["model"] == "gpt-4o-transcribe"
    assert request.body["language"] == "en"
    assert request.files["file"][:4] == b"RIFF"


async def test_a_bad_key_on_transcription_is_a_provider_auth_error(openai_fake: OpenAIFake) -> None:
    stt = openai_stt(TranscriberConfig(provider="openai"), ctx(openai_fake, secret="sk-wrong"))
    async with Harness(stt) as h:
        await speak(h)
        errors = await h.wait_for(ErrorFrame, upstream=True)
    assert isinstance(errors[0].exception, ProviderAuthError)
    assert errors[0].exception.provider == "stt:openai"


async def test_speech_streams_back_as_24khz_pcm(openai_fake: OpenAIFake) -> None:
    tts = openai_tts(VoiceConfig(provider="openai", voice_id="coral", speed=1.2), ctx(openai_fake))
    async with Harness(tts, audio_out=24000) as h:
        await h.queue(TTSSpeakFrame("Your table is booked for seven."))
        await h.wait_for(TTSStoppedFrame)
    audio = h.down(TTSAudioRawFrame)
    assert audio and all(f.sample_rate == 24000 for f in audio)
    request = openai_fake.last_request.body
    assert request == {
        "input": "Your table is booked for seven.",
        "model": "gpt-4o-mini-tts",
        "voice": "coral",
        "response_format": "pcm",
        "speed": 1.2,
    }


async def test_a_bad_key_on_speech_is_a_provider_auth_error(openai_fake: OpenAIFake) -> None:
    tts = openai_tts(VoiceConfig(provider="openai"), ctx(openai_fake, secret="sk-wrong"))
    async with Harness(tts, audio_out=24000) as h:
        await h.queue(TTSSpeakFrame("Hello."))
        errors = await h.wait_for(ErrorFrame, upstream=True)
    assert isinstance(errors[0].exception, ProviderAuthError)


@pytest.mark.parametrize("factory", [openai_stt, openai_tts])
def test_no_secret_is_a_missing_credential(factory) -> None:
    config = TranscriberConfig(provider="openai") if factory is openai_stt else VoiceConfig(provider="openai")
    with pytest.raises(MissingCredential):
        factory(config, ProviderContext(org_id="org_test"))
