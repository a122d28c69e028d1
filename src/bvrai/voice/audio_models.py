"""The call's audio models (Silero VAD, Smart Turn v3), loaded once per process and shared by every call.

pipecat's ``SileroVADAnalyzer`` and ``LocalSmartTurnAnalyzerV3`` each build an ONNX Runtime
``InferenceSession`` in their constructor: every call paid ~40 ms of CPU per model to parse and
optimise the graph, and ~20 MB of memory for the two sessions. The sessions themselves hold no
per-stream state: Silero's recurrent state and audio context live in ``SileroOnnxModel`` (kept per
call here), Smart Turn scores each finished utterance on its own. ONNX Runtime documents
``InferenceSession.run`` as safe to call from several threads at once, so one session per model
serves all the calls of a process, each call keeping its own state.

VAD also runs inline instead of on a thread of its own per call: pipecat hands every 20 ms input
frame to a one-thread executor, which costs a thread per call and two thread switches per frame,
more than the model itself on the frames that only append to the buffer (most of them). Here a
frame that completes no model window is handled on the event loop, and the windows (about one per
32 ms) go to one small executor shared by all calls (ONNX releases the GIL while it runs).

Quiet audio skips the model (``SharedSileroVADAnalyzer.voice_confidence``): pipecat calls a window
speech only when Silero's confidence *and* the window's smoothed loudness clear their thresholds, so
below ``min_volume`` the model's answer cannot change the outcome. On a call the caller is quiet most
of the time (listening to the agent), and those windows then cost a loudness measure, on the event
loop, instead of an inference and two thread switches. The loudness measure itself (ITU-R BS.1770
over the last 400 ms, a few hundred microseconds) is skipped when the window's energy puts it
below the standard's absolute gate (``GatedVolumeTracker``), where its answer is 0 by definition.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

import numpy as np
import onnxruntime as ort
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState
from pipecat.audio.volume import AudioVolumeTracker
from pipecat.utils.env import env_truthy

# Quiet windows kept to replay through the model when the audio gets loud, so Silero meets the
# onset of speech with the context it would have had (its recurrent state and audio context).
WARM_UP_WINDOWS = 3

# Threads running VAD windows for all calls of the process. ONNX Runtime releases the GIL during
# ``run``, so two threads keep both cores of a small machine busy while the event loop runs.
VAD_THREADS = 2


# BS.1770 drops every block quieter than -70 LUFS (loudness = -0.691 + 10·log10 of the K-weighted
# mean square); a window with all blocks dropped measures -inf, which pipecat reads as volume 0. The
# K-weighting filter amplifies no frequency by more than ~4 dB (a power gain of 2.5), and a filter's
# output energy over a window is at most its peak power gain times the input's energy, so a window
# whose own mean square is below the gate's divided by 10 cannot reach the gate.
GATE_MEAN_SQUARE = 10 ** ((-70 + 0.691) / 10) / 10


class GatedVolumeTracker(AudioVolumeTracker):
    """pipecat's rolling loudness, answering 0 without the measure when the window is below the gate."""

    @property
    def volume(self) -> float:
        if self._volume is None:
            samples = np.frombuffer(self._buffer, dtype=np.int16).astype(np.float32) / 32768.0
            if float(np.dot(samples, samples)) / max(1, len(samples)) < GATE_MEAN_SQUARE:
                self._volume = 0.0
        return float(super().volume)


@functools.cache
def silero_session() -> ort.InferenceSession:
    """pipecat's bundled Silero VAD, with the session options ``SileroOnnxModel`` uses."""
    opts = ort.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    path = str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


@functools.cache
def smart_turn_session() -> ort.InferenceSession:
    """pipecat's bundled Smart Turn v3, with the session options ``LocalSmartTurnAnalyzerV3`` uses."""
    so = ort.SessionOptions()
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    path = str(resources.files("pipecat.audio.turn.smart_turn.data").joinpath("smart-turn-v3.2-cpu.onnx"))
    return ort.InferenceSession(path, sess_options=so)


@functools.cache
def vad_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=VAD_THREADS, thread_name_prefix="vad")


class _SharedSessionSileroModel(SileroOnnxModel):
    """``SileroOnnxModel`` (its per-stream state and windowing) on the process's shared session."""

    def __init__(self, session: ort.InferenceSession) -> None:  # no super(): it would load the model again
        self.session = session
        self.reset_states()  # type: ignore[no-untyped-call]
        self.sample_rates = [8000, 16000]


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    """pipecat's Silero VAD with the shared model session, run inline when a frame completes no window."""

    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None) -> None:
        # VADAnalyzer's constructor, not SileroVADAnalyzer's (which loads a session of its own).
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        # Nothing runs on the analyzer's own one-thread executor (see analyze_audio); let it go.
        self._executor.shutdown(wait=False)
        self._volume_tracker = GatedVolumeTracker()  # type: ignore[no-untyped-call]
        self._model = _SharedSessionSileroModel(silero_session())
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        self._window_volume: float | None = None
        self._skipped: deque[bytes] = deque(maxlen=WARM_UP_WINDOWS)

    async def analyze_audio(self, buffer: bytes) -> VADState:
        completes_window = len(self._vad_buffer) + len(buffer) >= self._vad_frames_num_bytes
        if not completes_window or self._prev_volume < self._params.min_volume:
            # No window completes (_run_analyzer only appends), or the audio has been quiet: its
            # windows most likely skip the model, and the rare one that does not runs here.
            return self._run_analyzer(buffer)
        # Calls to one analyzer are awaited one after another, so its state is never shared between threads.
        return await asyncio.get_running_loop().run_in_executor(vad_executor(), self._run_analyzer, buffer)

    def voice_confidence(self, buffer: bytes) -> float:
        """Silero's confidence for one window, or 0 without asking it when the window is too quiet.

        pipecat's ``_run_analyzer`` asks for a window's confidence and then its smoothed volume; the
        volume is measured here first, and ``_get_smoothed_volume`` hands that same value back."""
        volume = self._volume_envelope(buffer)
        self._window_volume = volume
        if volume < self._params.min_volume:
            self._skipped.append(bytes(buffer))
            return 0.0
        while self._skipped:  # the onset's quiet lead-in, as context; the answers are not needed
            super().voice_confidence(self._skipped.popleft())
        confidence: float = super().voice_confidence(buffer)  # a one-element array, as pipecat returns it
        return confidence

    def _get_smoothed_volume(self, audio: bytes) -> float:
        volume, self._window_volume = self._window_volume, None
        return volume if volume is not None else self._volume_envelope(audio)

    def _volume_envelope(self, audio: bytes) -> float:
        """The window's loudness for the volume gate: rises at once, falls as pipecat smooths it.

        pipecat smooths the rolling loudness both ways (each window moves it a fifth of the way to
        the new level). Out of a digitally silent line, where it sits at 0, that holds speech below
        ``min_volume`` for ~180 ms although the 400 ms loudness window is past it within a window
        and Silero is sure of the speech by ~110 ms; with ``start_secs`` on top the caller's
        barge-in is heard ~240 ms after they start. The smoothing is there so the gate does not
        chatter while someone speaks (loudness dips between words); a falling level still decays
        exactly as pipecat's does, so only the onset changes. Noise does not gain by it: the gate
        passes what is loud, and Silero's confidence must still hold for ``start_secs``.
        """
        smoothed = super()._get_smoothed_volume(audio)
        return max(smoothed, float(self._volume_tracker.volume))


class SharedSmartTurnAnalyzer(LocalSmartTurnAnalyzerV3):
    """pipecat's local Smart Turn v3 on the process's shared session (its bundled model)."""

    def __init__(self, **kwargs: Any) -> None:
        # BaseSmartTurn's constructor, not LocalSmartTurnAnalyzerV3's (which loads a session of its own).
        BaseSmartTurn.__init__(self, **kwargs)
        self._log_data = env_truthy("PIPECAT_SMART_TURN_LOG_DATA", default=False)
        self._session = smart_turn_session()
