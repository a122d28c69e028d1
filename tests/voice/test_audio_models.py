"""The shared Silero VAD hears speech as pipecat's own does, sooner out of silence, without running the model on it."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import soxr
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from bvrai.voice.audio_models import SharedSileroVADAnalyzer
from bvrai.voice.caller_speech import synthesize
from bvrai.voice.web_serializer import WEB_SAMPLE_RATE
from tests.voice.conftest import speech_onset_s

FRAME_MS = 80  # what a phone line's batched input hands the VAD


class CountingModel:
    """Counts the windows the analyzer asks the model about."""

    def __init__(self, model: Any) -> None:
        self.model, self.calls = model, 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.model(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


@pytest.fixture(scope="module")
def speech() -> bytes:
    return synthesize("Hello, I would like to book a table for two people tonight at eight.")


def line_audio(pcm16k: bytes, rate: int) -> bytes:
    samples = np.frombuffer(pcm16k, dtype="<i2").astype(np.float32) / 32768.0
    return (soxr.resample(samples, WEB_SAMPLE_RATE, rate) * 32767.0).astype("<i2").tobytes()


async def states(analyzer: Any, audio: bytes, rate: int, frame_ms: int = FRAME_MS) -> list[VADState]:
    analyzer.set_sample_rate(rate)
    step = rate * 2 * frame_ms // 1000
    return [await analyzer.analyze_audio(audio[i : i + step]) for i in range(0, len(audio) - step + 1, step)]


def onsets(trace: list[VADState]) -> list[int]:
    return [i for i, (a, b) in enumerate(itertools.pairwise(trace)) if b == VADState.SPEAKING != a]


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_silence_never_reaches_the_model_and_speech_is_heard_as_pipecat_hears_it(speech, rate):
    params = VADParams(start_secs=0.1, stop_secs=0.2)
    silence = bytes(rate * 2 * 3)  # 3 s: a caller listening to the agent
    audio = silence + line_audio(speech, rate) + silence

    ours = SharedSileroVADAnalyzer(params=params)
    ours._model = CountingModel(ours._model)
    await states(ours, silence, rate)
    assert ours._model.calls == 0

    ours = SharedSileroVADAnalyzer(params=params)
    stock = SileroVADAnalyzer(params=params)
    our_trace, stock_trace = await states(ours, audio, rate), await states(stock, audio, rate)
    assert VADState.SPEAKING in our_trace
    # Each stretch of speech starts where pipecat's own analyzer (the model on every window) says, or
    # sooner by at most what its smoothing of a rising loudness costs (~160 ms).
    ours_at, stock_at = onsets(our_trace), onsets(stock_trace)
    assert ours_at and len(ours_at) == len(stock_at)
    assert all(0 <= (stock - our) * FRAME_MS <= 160 for our, stock in zip(ours_at, stock_at, strict=True))
    # ...and both are quiet again once the caller is.
    assert our_trace[-1] == stock_trace[-1] == VADState.QUIET


@pytest.mark.parametrize("rate", [8000, 16000])
def test_the_gated_loudness_answers_as_pipecat_does_and_skips_the_measure_below_the_gate(rate, monkeypatch):
    import pipecat.audio.volume as volume_module
    from pipecat.audio.volume import AudioVolumeTracker

    from bvrai.voice.audio_models import GatedVolumeTracker

    rng = np.random.default_rng(7)
    n = rate // 25  # 40 ms pieces
    t = np.arange(n * 20)
    signals = [np.zeros(n * 20)]
    for rms in (1e-5, 1e-4, 2e-4, 3e-4, 1e-3, 1e-2, 0.1):  # around the -70 LUFS gate and well above it
        signals.append(rng.standard_normal(n * 20) * rms)
        signals.append(np.sin(t * np.pi * 0.95) * rms * 1.414)  # near Nyquist, where K-weighting boosts most
    for signal in signals:
        pcm = np.clip(signal * 32768, -32768, 32767).astype("<i2").tobytes()
        ours, stock = GatedVolumeTracker(), AudioVolumeTracker()
        for i in range(0, len(pcm), n * 2):
            ours.update(pcm[i : i + n * 2], rate)
            stock.update(pcm[i : i + n * 2], rate)
            assert ours.volume == stock.volume

    measured = []
    real = volume_module.calculate_audio_volume
    monkeypatch.setattr(volume_module, "calculate_audio_volume", lambda *a: measured.append(1) or real(*a))
    quiet = GatedVolumeTracker()
    for _ in range(20):
        quiet.update(bytes(n * 2), rate)
        assert quiet.volume == 0.0
    assert measured == []


def onset_delay_s(trace: list[VADState], silence_s: float, speech_onset_s: float, frame_ms: int) -> float:
    first = trace.index(VADState.SPEAKING)
    return (first + 1) * frame_ms / 1000 - silence_s - speech_onset_s


async def test_speech_out_of_a_silent_line_is_heard_sooner_than_pipecat_hears_it(speech):
    """A caller talking over the agent on a digitally silent line: what sets how fast the agent stops."""
    params = VADParams(start_secs=0.1, stop_secs=0.2)
    audio = bytes(WEB_SAMPLE_RATE * 2 * 2) + speech
    traces = [
        await states(analyzer, audio, WEB_SAMPLE_RATE, frame_ms=20)
        for analyzer in (SharedSileroVADAnalyzer(params=params), SileroVADAnalyzer(params=params))
    ]
    ours, stock = (onset_delay_s(t, 2.0, speech_onset_s(speech), 20) for t in traces)
    print(f"speech heard {1000 * ours:.0f} ms after it starts (pipecat's analyzer: {1000 * stock:.0f} ms)")
    assert ours <= 0.2 < stock


@pytest.mark.parametrize("kind", ["white noise", "a tone", "clicks", "noise bursts"])
async def test_loud_sounds_that_are_not_speech_are_not_heard_as_speech(kind):
    rng = np.random.default_rng(3)
    t = np.arange(WEB_SAMPLE_RATE * 3)
    signal = {
        "white noise": rng.standard_normal(len(t)) * 0.1,
        "a tone": np.sin(t * 2 * np.pi * 1000 / WEB_SAMPLE_RATE) * 0.3,
        "clicks": np.where(t % 4000 < 40, rng.standard_normal(len(t)) * 0.5, 0),
        "noise bursts": np.where((t // 1600) % 2 == 0, rng.standard_normal(len(t)) * 0.2, 0),
    }[kind]
    audio = bytes(WEB_SAMPLE_RATE * 2) + np.clip(signal * 32768, -32768, 32767).astype("<i2").tobytes()
    analyzer = SharedSileroVADAnalyzer(params=VADParams(start_secs=0.1, stop_secs=0.2))
    trace = await states(analyzer, audio, WEB_SAMPLE_RATE)
    assert VADState.SPEAKING not in trace
