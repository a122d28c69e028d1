"""The local TTS reports each word with an estimated start, so a barge-in keeps the words the caller heard.

hibari gives no alignment; ``estimate_word_starts`` spreads each sentence's speech over its words.
These tests check the estimate on its own, against Whisper's word times, and what the service sends
down the pipeline: one ``TTSTextFrame`` per word, timed on the pipeline clock, that add up to the text.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hibari import SAMPLE_RATE as RATE
from hibari import Hibari
from hibari.tts import MAX_PHONEMES
from pipecat.frames.frames import (
    Frame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.pipeline.worker import PipelineParams
from pipecat.utils.string import TextPartForConcatenation, concatenate_aggregated_text

from bvrai.agents.spec import VoiceConfig
from bvrai.providers.base import ProviderContext
from bvrai.providers.local import create_tts_service, stt, tts
from bvrai.providers.local.models import hibari_voice_file, whisper_model_dir
from tests.providers.local.harness import run_service

CTX = ProviderContext(org_id="org_test")


def _model() -> Hibari:
    return tts.load_voice("heart", hibari_voice_file("heart")).model


def _stops(count: int) -> Callable[[list[Frame]], bool]:
    return lambda frames: sum(isinstance(f, TTSStoppedFrame) for f in frames) >= count


async def _speak(*texts: str) -> list[Frame]:
    service = create_tts_service(VoiceConfig(), CTX)
    return await run_service(
        service,
        [TTSSpeakFrame(text) for text in texts],
        until=_stops(len(texts)),
        params=PipelineParams(audio_out_sample_rate=16000),
    )


def _transcript(frames: list[Frame]) -> str:
    """The words as pipecat's assistant aggregator joins them."""
    parts = [
        TextPartForConcatenation(f.text, includes_inter_part_spaces=f.includes_inter_frame_spaces)
        for f in frames
        if isinstance(f, TTSTextFrame) and f.append_to_context
    ]
    return concatenate_aggregated_text(parts)


def _after(later: Frame, earlier: Frame) -> float:
    """Seconds from ``earlier``'s presentation time to ``later``'s."""
    assert later.pts is not None and earlier.pts is not None
    return (later.pts - earlier.pts) / 1e9


def test_speech_is_shared_out_in_proportion_to_the_weights_between_its_onset_and_end() -> None:
    rng = np.random.default_rng(0)
    speech = rng.uniform(-0.5, 0.5, RATE).astype(np.float32)  # 1 s of "speech"
    audio = np.concatenate([np.zeros(int(0.3 * RATE), np.float32), speech, np.zeros(int(0.5 * RATE), np.float32)])

    starts = tts.estimate_word_starts(audio, [1, 1, 2], RATE)

    assert starts == pytest.approx([0.3, 0.55, 0.8], abs=0.011)
    assert tts.estimate_word_starts(audio, [], RATE) == []
    assert tts.estimate_word_starts(np.zeros(RATE, np.float32), [1, 1], RATE) == [0.0, 0.5]


def test_a_clause_mark_adds_a_pause_and_text_without_sound_weighs_almost_nothing() -> None:
    model = _model()
    plain, paused = tts._word_weights(model, ["pizza", "now"]), tts._word_weights(model, ["pizza,", "now"])
    assert paused[0] - plain[0] >= tts.CLAUSE_PAUSE
    assert tts._word_weights(model, ["now", "pizza,"])[1] < paused[0]  # the last word's pause is trailing silence
    assert tts._word_weights(model, ["😀", "now"])[0] == 1.0


WHISPER_SENTENCES = [
    "Tonight we have a special on our wood fired margherita with fresh basil.",
    "We also have a four cheese pizza, a spicy salami pizza, and a vegetable pizza with grilled peppers.",
    "Thanks for calling Acme Dental, how can I help you today?",
    "Well, we close at ten tonight, but the kitchen stops taking orders at half past nine.",
    "Let me check the menu for you, one moment please.",
]


def test_the_estimate_stays_close_to_whispers_word_times() -> None:
    """The docstring's measurement, on fewer sentences: ~0.1 s on average, never far off."""
    model = _model()
    whisper = stt.load_whisper(whisper_model_dir())
    errors: list[float] = []
    for sentence in WHISPER_SENTENCES:
        audio = model(sentence, seed=0)
        at_16k = np.interp(np.arange(0, len(audio), 1.5), np.arange(len(audio)), audio).astype(np.float32)
        segments, _ = whisper.transcribe(at_16k, word_timestamps=True, beam_size=1, language="en")
        heard = [word.start for segment in segments for word in segment.words]
        words = sentence.split()
        if len(heard) != len(words):  # Whisper split or merged a word: no word-for-word reference
            continue
        estimated = tts.estimate_word_starts(audio, tts._word_weights(model, words), RATE)
        assert estimated == sorted(estimated) and 0 < estimated[0] < estimated[-1] < len(audio) / RATE
        errors += [abs(e - h) for e, h in zip(estimated[1:], heard[1:], strict=True)]  # Whisper puts word 1 at 0
    assert len(errors) >= 30, "Whisper matched too few sentences word for word to judge the estimate"
    print(f"word start error vs Whisper: mean {np.mean(errors):.3f} s, max {max(errors):.3f} s, n={len(errors)}")
    assert np.mean(errors) < 0.2
    assert max(errors) < 0.8


async def test_each_word_comes_as_its_own_frame_and_together_they_are_the_text() -> None:
    first = "Hello and welcome to Bella Pizza. Call 555-0100 now — or email us 😀. Thanks!"
    second = "Second one, really."
    frames = await _speak(first, second)

    words = [f for f in frames if isinstance(f, TTSTextFrame)]
    assert [w.text for w in words] == [*first.split(), *second.split()]
    assert _transcript(frames) == f"{first} {second}"
    pts = [w.pts or 0 for w in words]
    assert all(pts) and pts == sorted(pts)


async def test_words_are_timed_after_the_audio_before_them() -> None:
    """Within a text, a sentence's words start after the sentences before it have played; a second
    text (the next sentence of a greeting spoken frame by frame) starts after all of the first's audio."""
    first = "Hello and welcome to Bella Pizza. Tonight we have a special."
    second = "How can I help?"
    frames = await _speak(first, second)

    started = [f for f in frames if isinstance(f, TTSStartedFrame)]
    assert len(started) == 2 and all(f.pts for f in started)
    one, two = (s.context_id for s in started)
    audio_s = {
        ctx: sum(len(f.audio) for f in frames if isinstance(f, TTSAudioRawFrame) and f.context_id == ctx) / 2 / 16000
        for ctx in (one, two)
    }
    words = {w.text: w for w in frames if isinstance(w, TTSTextFrame)}
    sentence_one_s = len(_model()("Hello and welcome to Bella Pizza.", seed=0)) / RATE

    first_start = _after(words["Hello"], started[0])
    assert 0.1 < first_start < 0.6  # hibari's leading silence, not the frame's start
    tonight = _after(words["Tonight"], started[0])
    assert sentence_one_s <= tonight < sentence_one_s + 0.6
    assert _after(words["special."], started[0]) < audio_s[one]
    # The second context starts when the first one's audio ends, not when its last word starts.
    assert _after(started[1], started[0]) >= audio_s[one] - 0.01
    assert 0.1 < _after(words["How"], started[1]) < 0.6


async def test_a_long_sentence_cut_into_pieces_still_reports_every_word_once() -> None:
    clause = "a slice of pizza with tomatoes, olives, peppers, onions, mushrooms and extra cheese on top"
    sentence = ", ".join([clause] * 6) + "."
    assert len(_model().g2p(sentence)) > MAX_PHONEMES
    frames = await _speak(sentence)
    assert [f.text for f in frames if isinstance(f, TTSTextFrame)] == sentence.split()
    assert _transcript(frames) == sentence
