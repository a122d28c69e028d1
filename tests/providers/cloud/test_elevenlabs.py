"""ElevenLabs TTS against the fake: text in, PCM audio frames out (WebSocket and HTTP); bad keys."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import ErrorFrame, TTSAudioRawFrame, TTSSpeakFrame, TTSStoppedFrame, TTSTextFrame

from bvrai.agents.spec import VoiceConfig
from bvrai.providers.base import MissingCredential, ProviderAuthError, ProviderContext
from bvrai.providers.cloud.elevenlabs import ElevenLabsHttpTTS, ElevenLabsTTS, elevenlabs_tts
from tests.fakes.elevenlabs import ElevenLabsFake
from tests.providers.cloud.harness import Harness

RATE = 16000
TEXT = "Thanks for calling. How can I help?"


def ctx(fake: ElevenLabsFake, secret: str | None = None, **extra: object) -> ProviderContext:
    return ProviderContext(
        org_id="org_test", secret=secret or fake.api_key, base_url=fake.url, sample_rate=RATE, extra=dict(extra)
    )


def voice(**overrides: object) -> VoiceConfig:
    return VoiceConfig.model_validate({"provider": "elevenlabs", **overrides})


def audio_seconds(frames: list[TTSAudioRawFrame]) -> float:
    return sum(len(f.audio) for f in frames) / 2 / RATE


async def test_websocket_text_becomes_pcm_audio_at_the_pipeline_rate(elevenlabs_fake: ElevenLabsFake) -> None:
    tts = elevenlabs_tts(voice(speed=1.0), ctx(elevenlabs_fake))
    assert isinstance(tts, ElevenLabsTTS)
    async with Harness(tts, audio_out=RATE) as h:
        await h.queue(TTSSpeakFrame(TEXT))
        await h.wait_for(TTSStoppedFrame, within=5)
        words = await h.wait_until(lambda: h.down(TTSTextFrame) if len(h.down(TTSTextFrame)) >= 7 else None)
    frames = h.down(TTSAudioRawFrame)
    assert frames and all(f.sample_rate == RATE and f.num_channels == 1 for f in frames)
    # The fake speaks 40 ms per character: the audio's length follows the text.
    assert audio_seconds(frames) == pytest.approx(len(TEXT) * 0.040, rel=0.05)
    # Word timings come from the alignment ElevenLabs sends with the audio.
    assert " ".join(w.text for w in words).startswith("Thanks for calling.")
    session = elevenlabs_fake.sessions[0]
    assert session.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/multi-stream-input"
    assert session.query["model_id"] == "eleven_flash_v2_5"
    assert session.query["output_format"] == "pcm_16000"
    assert elevenlabs_fake.last_request.headers["xi-api-key"] == elevenlabs_fake.api_key
    assert TEXT in session.text


@pytest.mark.parametrize("refusal", ["close", "http"])
async def test_a_bad_key_on_the_websocket_is_a_provider_auth_error(refusal: str) -> None:
    async with ElevenLabsFake(ws_auth_failure=refusal) as fake:  # type: ignore[arg-type]
        tts = elevenlabs_tts(voice(), ctx(fake, secret="xi-wrong"))
        async with Harness(tts, audio_out=RATE) as h:
            await h.queue(TTSSpeakFrame(TEXT))
            errors = await h.wait_until(
                lambda: [f for f in h.up(ErrorFrame) if isinstance(f.exception, ProviderAuthError)], within=5
            )
    assert errors[0].exception.provider == "tts:elevenlabs"
    assert not tts.is_usable
    assert not h.down(TTSAudioRawFrame)


async def test_http_variant_streams_audio_with_timestamps(elevenlabs_fake: ElevenLabsFake) -> None:
    tts = elevenlabs_tts(voice(), ctx(elevenlabs_fake, transport="http"))
    assert isinstance(tts, ElevenLabsHttpTTS)
    async with Harness(tts, audio_out=RATE) as h:
        await h.queue(TTSSpeakFrame(TEXT))
        await h.wait_for(TTSStoppedFrame, within=5)
    assert audio_seconds(h.down(TTSAudioRawFrame)) == pytest.approx(len(TEXT) * 0.040, rel=0.05)
    request = elevenlabs_fake.last_request
    assert request.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream/with-timestamps"
    assert request.query["output_format"] == "pcm_16000"
    assert request.body["text"] == TEXT
    assert request.body["model_id"] == "eleven_flash_v2_5"


async def test_http_variant_bad_key_is_a_provider_auth_error(elevenlabs_fake: ElevenLabsFake) -> None:
    tts = elevenlabs_tts(voice(), ctx(elevenlabs_fake, secret="xi-wrong", transport="http"))
    async with Harness(tts, audio_out=RATE) as h:
        await h.queue(TTSSpeakFrame(TEXT))
        errors = await h.wait_for(ErrorFrame, upstream=True)
    assert isinstance(errors[0].exception, ProviderAuthError)


def test_no_secret_is_a_missing_credential() -> None:
    with pytest.raises(MissingCredential):
        elevenlabs_tts(voice(), ProviderContext(org_id="org_test"))
