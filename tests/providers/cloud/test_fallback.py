"""Provider fallback mid-call: the primary fails (an error, a dropped line, silence) and the fallback
provider's reply is what the caller gets, with the request that was in flight re-issued."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    InputAudioRawFrame,
    LLMRunFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
)

import bvrai.providers.cloud  # noqa: F401 - registers the cloud factories
from bvrai.agents.spec import LLMConfig, TranscriberConfig, VoiceConfig
from bvrai.providers.base import ProviderAuthError, ProviderContext, ProviderRequestError, ProviderTimeout
from bvrai.providers.cloud.deepgram import deepgram_stt
from bvrai.providers.cloud.openai import openai_llm
from bvrai.providers.fallback import (
    FailoverLLMSwitcher,
    FailoverServiceSwitcher,
    build_with_fallbacks,
    merge_fallback,
)
from tests.fakes.anthropic import AnthropicFake
from tests.fakes.deepgram import DeepgramFake
from tests.fakes.elevenlabs import ElevenLabsFake
from tests.fakes.openai import OpenAIFake, Reply
from tests.fakes.server import Failure
from tests.providers.cloud.harness import Harness
from tests.providers.cloud.llm_conversation import Conversation

PROMPT = {"system_instruction": "You are a phone receptionist."}


def contexts(**fakes: OpenAIFake | AnthropicFake | ElevenLabsFake | DeepgramFake):
    def ctx_for(provider: str) -> ProviderContext:
        fake = fakes[provider]
        base_url = fake.url + "/v1" if isinstance(fake, OpenAIFake) else fake.url
        return ProviderContext(
            org_id="org_test", secret=fake.api_key, base_url=base_url, sample_rate=16000, extra=dict(PROMPT)
        )

    return ctx_for


def llm_spec(**fallback: object) -> LLMConfig:
    return LLMConfig.model_validate(
        {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "temperature": 0.4,
            "max_tokens": 150,
            "fallbacks": [{"provider": "anthropic", "model": "claude-haiku-4-5", **fallback}],
        }
    )


def openai_then_anthropic(openai_fake: OpenAIFake, anthropic_fake: AnthropicFake, timeout: float = 1.0):
    spec = llm_spec()
    return build_with_fallbacks(
        "llm",
        spec,
        spec.fallbacks,
        contexts(openai=openai_fake, anthropic=anthropic_fake),
        first_output_timeout_s=timeout,
    )


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda fake: fake.fail_now(Failure.ERROR), id="500-from-the-start"),
        pytest.param(lambda fake: fake.fail_now(Failure.DROP), id="connection-dropped"),
        pytest.param(lambda fake: fake.script(Reply(text="Sure, let me look that up.", fail_after=2)), id="mid-stream"),
        pytest.param(
            lambda fake: fake.script(Reply(text="Sure, let me check.", fail_after=2, fail_mode=Failure.DROP)),
            id="cut-mid-stream",
        ),
    ],
)
async def test_the_reply_comes_from_the_fallback_when_the_primary_fails(
    openai_fake: OpenAIFake, anthropic_fake: AnthropicFake, failure
) -> None:
    failure(openai_fake)
    anthropic_fake.script("Happy to help. What day works for you?")
    llm = openai_then_anthropic(openai_fake, anthropic_fake)
    assert isinstance(llm, FailoverLLMSwitcher)
    failovers: list[tuple[str, str, object]] = []

    @llm.event_handler("on_failover")
    async def _noted(switcher, failed, active, error) -> None:
        failovers.append((failed.provider_id, active.provider_id, error.exception))

    conversation = Conversation(llm)
    async with conversation.harness() as h:
        replies = await conversation.run(h, last="Happy to help. What day works for you?")
    # What the failed provider streamed before dying was spoken, so it stays in the conversation.
    assert replies in (
        ["Happy to help. What day works for you?"],
        ["Sure, let", "Happy to help. What day works for you?"],
    )
    assert [(a, b) for a, b, _ in failovers] == [("llm:openai", "llm:anthropic")]
    # The request that failed went to the fallback as it was first sent: no half-spoken text in it.
    assert len(openai_fake.chat_requests) == 1
    assert anthropic_fake.message_requests[0]["messages"] == [
        {"role": "user", "content": "What's the weather in Paris?"}
    ]
    assert anthropic_fake.message_requests[0]["system"] == "You are a phone receptionist."
    assert not h.up(ErrorFrame), "a failover the call recovered from is not reported as an error"


async def test_a_stalled_primary_times_out_and_the_fallback_answers(
    openai_fake: OpenAIFake, anthropic_fake: AnthropicFake
) -> None:
    openai_fake.fail_now(Failure.STALL)
    anthropic_fake.script("Hello from the fallback.")
    llm = openai_then_anthropic(openai_fake, anthropic_fake, timeout=0.5)
    errors: list[object] = []

    @llm.event_handler("on_failover")
    async def _noted(switcher, failed, active, error) -> None:
        errors.append(error.exception)

    conversation = Conversation(llm)
    started = time.monotonic()
    async with conversation.harness() as h:
        replies = await conversation.run(h)
    assert replies[-1] == "Hello from the fallback."
    assert time.monotonic() - started < 3
    assert isinstance(errors[0], ProviderTimeout)


async def test_tools_keep_working_after_the_switch(openai_fake: OpenAIFake, anthropic_fake: AnthropicFake) -> None:
    from tests.fakes.anthropic import ToolUse

    openai_fake.fail_now(Failure.ERROR)
    anthropic_fake.script(ToolUse("get_weather", {"city": "Paris"}), "14 degrees and cloudy in Paris.")
    conversation = Conversation(openai_then_anthropic(openai_fake, anthropic_fake))
    async with conversation.harness() as h:
        replies = await conversation.run(h)
    assert conversation.tool_calls == [{"city": "Paris"}]
    assert replies[-1] == "14 degrees and cloudy in Paris."
    assert len(anthropic_fake.message_requests) == 2
    assert len(openai_fake.chat_requests) == 1, "once switched, the call stays on the fallback"


async def test_a_rejected_key_fails_over_too(openai_fake: OpenAIFake, anthropic_fake: AnthropicFake) -> None:
    anthropic_fake.script("Still here.")
    llm = openai_then_anthropic(openai_fake, anthropic_fake)
    openai_fake.api_key = "sk-rotated"  # the key in the org's vault is no longer valid
    seen: list[object] = []

    @llm.event_handler("on_failover")
    async def _noted(switcher, failed, active, error) -> None:
        seen.append(error.exception)

    conversation = Conversation(llm)
    async with conversation.harness() as h:
        assert (await conversation.run(h))[-1] == "Still here."
    assert isinstance(seen[0], ProviderAuthError)


async def test_a_bad_request_is_reported_not_failed_over(
    openai_fake: OpenAIFake, anthropic_fake: AnthropicFake
) -> None:
    openai_fake.models = {"gpt-4.1"}  # the spec names a model this server does not have: a spec bug
    conversation = Conversation(openai_then_anthropic(openai_fake, anthropic_fake, timeout=0.3))
    async with conversation.harness() as h:
        await h.queue(LLMRunFrame())
        errors = await h.wait_for(ErrorFrame, upstream=True)
        await asyncio.sleep(0.5)  # past the first-token timeout: the finished request is not "stalled"
    assert isinstance(errors[0].exception, ProviderRequestError)
    assert "404" in str(errors[0].exception)
    assert not anthropic_fake.requests


async def test_when_every_provider_fails_the_error_surfaces_once(
    openai_fake: OpenAIFake, openai_fake_backup: OpenAIFake
) -> None:
    openai_fake.fail_now(Failure.ERROR)
    openai_fake_backup.fail_now(Failure.ERROR)
    ctx_primary = ProviderContext(org_id="o", secret=openai_fake.api_key, base_url=openai_fake.url + "/v1")
    ctx_backup = ProviderContext(org_id="o", secret=openai_fake_backup.api_key, base_url=openai_fake_backup.url + "/v1")
    spec = LLMConfig(provider="openai")
    llm = build_with_fallbacks(
        "llm", [openai_llm(spec, _no_retry(ctx_primary)), openai_llm(spec, _no_retry(ctx_backup))]
    )
    conversation = Conversation(llm)
    async with conversation.harness() as h:
        await h.queue(LLMRunFrame())
        errors = await h.wait_for(ErrorFrame, upstream=True, within=5)
        await h.wait_until(lambda: len(openai_fake_backup.requests) >= 1)
    assert len(errors) == 1
    assert len(openai_fake.chat_requests) == 1 and len(openai_fake_backup.chat_requests) == 1


def _no_retry(ctx: ProviderContext) -> ProviderContext:
    return ProviderContext(org_id=ctx.org_id, secret=ctx.secret, base_url=ctx.base_url, extra={"max_retries": 0})


def test_fallback_sections_take_the_primary_numbers_they_leave_unset() -> None:
    spec = llm_spec()
    merged = merge_fallback(spec, spec.fallbacks[0])
    assert (merged.provider, merged.model, merged.temperature, merged.max_tokens) == (
        "anthropic",
        "claude-haiku-4-5",
        0.4,
        150,
    )
    own = merge_fallback(spec, llm_spec(temperature=0.9).fallbacks[0])
    assert own.temperature == 0.9


async def test_only_the_last_provider_keeps_client_retries(
    openai_fake: OpenAIFake, anthropic_fake: AnthropicFake
) -> None:
    llm = openai_then_anthropic(openai_fake, anthropic_fake)
    primary, fallback = llm.llms
    assert primary._client.max_retries == 0
    assert fallback._client.max_retries == 1


# --- TTS ---------------------------------------------------------------------------------------------------------


def tts_chain(elevenlabs_fake: ElevenLabsFake, openai_fake: OpenAIFake, timeout: float = 1.0):
    spec = VoiceConfig.model_validate({"provider": "elevenlabs", "fallbacks": [{"provider": "openai"}]})
    return build_with_fallbacks(
        "tts",
        spec,
        spec.fallbacks,
        contexts(elevenlabs=elevenlabs_fake, openai=openai_fake),
        first_output_timeout_s=timeout,
    )


@pytest.mark.parametrize("mode", [Failure.ERROR, Failure.STALL])
async def test_speech_comes_from_the_fallback_voice_when_the_primary_fails(
    elevenlabs_fake: ElevenLabsFake, openai_fake: OpenAIFake, mode: Failure
) -> None:
    tts = tts_chain(elevenlabs_fake, openai_fake, timeout=0.5)
    assert isinstance(tts, FailoverServiceSwitcher)
    async with Harness(tts, audio_out=24000) as h:
        elevenlabs_fake.fail_now(mode)
        await h.queue(TTSSpeakFrame("Thanks for calling. How can I help?"))
        # The fake speaks 60 ms per character at 24 kHz: wait for all of it.
        expected = round(0.06 * len("Thanks for calling. How can I help?") * 24000) * 2
        await h.wait_until(lambda: sum(len(f.audio) for f in h.down(TTSAudioRawFrame)) >= expected, within=5)
    speech = openai_fake.last_request
    assert speech.path == "/v1/audio/speech"
    assert speech.body["input"] == "Thanks for calling. How can I help?"
    assert speech.body["voice"] == "alloy"
    audio = h.down(TTSAudioRawFrame)
    assert sum(len(f.audio) for f in audio) == expected
    assert not any(f.sample_rate == 16000 for f in audio), "nothing from the failed voice"


# --- STT ---------------------------------------------------------------------------------------------------------


async def test_transcription_continues_on_the_fallback_after_the_primary_drops(deepgram_fake: DeepgramFake) -> None:
    from tests.fakes.audio import silence, tone

    async with DeepgramFake() as backup:
        deepgram_fake.say("first question")
        backup.say("second question")
        ctx = ProviderContext(org_id="o", secret=deepgram_fake.api_key, base_url=deepgram_fake.url, sample_rate=16000)
        backup_ctx = ProviderContext(org_id="o", secret=backup.api_key, base_url=backup.url, sample_rate=16000)
        spec = TranscriberConfig(provider="deepgram")
        stt = build_with_fallbacks("stt", [deepgram_stt(spec, ctx), deepgram_stt(spec, backup_ctx)])
        speech = silence(0.2, 16000) + tone(0.6, 16000) + silence(0.4, 16000)
        step = 640
        async with Harness(stt) as h:
            await h.queue(*[InputAudioRawFrame(speech[i : i + step], 16000, 1) for i in range(0, len(speech), step)])
            await h.wait_for(TranscriptionFrame)
            deepgram_fake.fail_now(Failure.ERROR)  # Deepgram closes the socket with 1011
            await h.wait_until(lambda: backup.sessions and deepgram_fake.sessions[0].close_code == 1011)
            await h.queue(*[InputAudioRawFrame(speech[i : i + step], 16000, 1) for i in range(0, len(speech), step)])
            finals = await h.wait_for(TranscriptionFrame, count=2)
    assert [f.text for f in finals] == ["first question", "second question"]


async def test_an_llm_response_is_spoken_by_the_fallback_voice(
    elevenlabs_fake: ElevenLabsFake, openai_fake: OpenAIFake
) -> None:
    from pipecat.frames.frames import LLMFullResponseEndFrame, LLMFullResponseStartFrame, LLMTextFrame

    tts = tts_chain(elevenlabs_fake, openai_fake, timeout=0.5)
    async with Harness(tts, audio_out=24000) as h:
        elevenlabs_fake.fail_now(Failure.DROP)
        await h.queue(
            LLMFullResponseStartFrame(),
            *[LLMTextFrame(t) for t in ("Thanks ", "for ", "calling. ", "How ", "can ", "I ", "help?")],
            LLMFullResponseEndFrame(),
        )
        await h.wait_until(lambda: len(openai_fake.requests) >= 2 and h.down(TTSStoppedFrame), within=5)
    spoken = " ".join(r.body["input"] for r in openai_fake.requests)
    assert spoken == "Thanks for calling. How can I help?"


async def test_the_system_prompt_set_during_the_call_reaches_the_fallback(
    openai_fake: OpenAIFake, anthropic_fake: AnthropicFake
) -> None:
    from pipecat.frames.frames import LLMUpdateSettingsFrame
    from pipecat.services.settings import LLMSettings

    spec = llm_spec()
    plain = contexts(openai=openai_fake, anthropic=anthropic_fake)

    def no_prompt(provider: str) -> ProviderContext:
        return dataclasses.replace(plain(provider), extra={})

    llm = build_with_fallbacks("llm", spec, spec.fallbacks, no_prompt)
    openai_fake.fail_now(Failure.ERROR)
    conversation = Conversation(llm)
    async with conversation.harness() as h:
        # What the voice session does at call start, with the prompt filled from the call's variables.
        await h.queue(LLMUpdateSettingsFrame(delta=LLMSettings(system_instruction="You work at Chez Nous.")))
        await conversation.run(h)
    assert anthropic_fake.message_requests[0]["system"] == "You work at Chez Nous."
