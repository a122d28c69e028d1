"""The shared Silero VAD hears speech exactly as pipecat's own does, without running the model on silence."""

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


async def states(analyzer: Any, audio: bytes, rate: int) -> list[VADState]:
    analyzer.set_sample_rate(rate)
    step = rate * 2 * FRAME_MS // 1000
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
    # The speech starts within a frame of where pipecat's own analyzer (the model on every window) says.
    assert onsets(our_trace) and abs(onsets(our_trace)[0] - onsets(stock_trace)[0]) <= 1
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
