"""Deepgram live STT against the fake: scripted speech becomes TranscriptionFrames; a bad key is an auth error."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import ErrorFrame, InputAudioRawFrame, InterimTranscriptionFrame, TranscriptionFrame

from bvrai.agents.spec import TranscriberConfig
from bvrai.providers.base import MissingCredential, ProviderAuthError, ProviderContext
from bvrai.providers.cloud.deepgram import deepgram_stt
from tests.fakes.audio import silence, tone
from tests.fakes.deepgram import DeepgramFake
from tests.providers.cloud.harness import Harness

RATE = 16000


def frames(pcm: bytes, rate: int = RATE) -> list[InputAudioRawFrame]:
    step = rate // 50 * 2  # 20 ms
    return [InputAudioRawFrame(pcm[i : i + step], rate, 1) for i in range(0, len(pcm), step)]


def utterance(seconds: float = 0.6) -> bytes:
    return silence(0.2, RATE) + tone(seconds, RATE) + silence(0.4, RATE)


def ctx(fake: DeepgramFake, secret: str | None = None) -> ProviderContext:
    return ProviderContext(org_id="org_test", secret=secret or fake.api_key, base_url=fake.url, sample_rate=RATE)


async def test_scripted_speech_becomes_transcription_frames(deepgram_fake: DeepgramFake) -> None:
    deepgram_fake.say("I need to book a table", "for two people")
    stt = deepgram_stt(TranscriberConfig(provider="deepgram", language="en"), ctx(deepgram_fake))
    async with Harness(stt) as h:
        await h.queue(*frames(utterance() + utterance(0.4)))
        finals = await h.wait_for(TranscriptionFrame, count=2)
    assert [f.text for f in finals] == ["I need to book a table", "for two people"]
    assert h.down(InterimTranscriptionFrame), "interim results were asked for and should arrive while speaking"
    session = deepgram_fake.sessions[0]
    assert session.query["model"] == "nova-3"
    assert session.query["encoding"] == "linear16"
    assert session.query["sample_rate"] == "16000"
    assert session.query["interim_results"] == "true"
    assert session.headers["Authorization"] == f"Token {deepgram_fake.api_key}"


async def test_a_bad_key_is_refused_at_the_handshake_and_reported_as_an_auth_error(
    deepgram_fake: DeepgramFake,
) -> None:
    stt = deepgram_stt(TranscriberConfig(provider="deepgram"), ctx(deepgram_fake, secret="wrong"))
    async with Harness(stt) as h:
        errors = await h.wait_for(ErrorFrame, upstream=True)
    assert isinstance(errors[0].exception, ProviderAuthError)
    assert errors[0].exception.provider == "stt:deepgram"
    assert "wrong" not in errors[0].error
    assert not stt.is_usable


def test_no_secret_is_a_missing_credential() -> None:
    with pytest.raises(MissingCredential):
        deepgram_stt(TranscriberConfig(provider="deepgram"), ProviderContext(org_id="org_test"))
