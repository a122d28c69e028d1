"""Drive one pipecat service through a real pipeline (PipelineWorker + WorkerRunner), as a call does."""

from __future__ import annotations

import asyncio
import io
import re
import wave
from collections.abc import Callable, Sequence
from typing import Any

from pipecat.frames.frames import (
    EndFrame,
    Frame,
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner


class _Collector(FrameProcessor):
    def __init__(self, until: Callable[[list[Frame]], bool], direction: FrameDirection) -> None:
        super().__init__()
        self.frames: list[Frame] = []
        self.done = asyncio.Event()
        self._until = until
        self._direction = direction

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == self._direction:
            self.frames.append(frame)
            if self._until(self.frames):
                self.done.set()
        await self.push_frame(frame, direction)


async def run_service(
    service: FrameProcessor,
    frames: Sequence[Frame],
    *,
    until: Callable[[list[Frame]], bool],
    params: PipelineParams | None = None,
    wait_s: float = 60.0,
    settle: float = 0.0,
    upstream: bool = False,
) -> list[Frame]:
    """Queue ``frames``, wait until ``until(frames seen)`` holds, end the pipeline, return those frames.

    The frames seen are those the service pushes downstream, or upstream (errors) with ``upstream``.
    ``settle`` keeps the pipeline up a little longer (for work that follows the awaited frame).
    """
    direction = FrameDirection.UPSTREAM if upstream else FrameDirection.DOWNSTREAM
    collector = _Collector(until, direction)
    stages = [collector, service] if upstream else [service, collector]
    worker = PipelineWorker(
        Pipeline(stages),
        params=params or PipelineParams(),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(_worker: Any, _frame: Frame) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)

    async def drive() -> None:
        try:
            await asyncio.wait_for(started.wait(), wait_s)
            for frame in frames:
                await worker.queue_frame(frame)
            await asyncio.wait_for(collector.done.wait(), wait_s)
            if settle:
                await asyncio.sleep(settle)
        except BaseException:
            await runner.cancel()
            raise
        await worker.queue_frame(EndFrame())

    await asyncio.gather(runner.run(), drive())
    return collector.frames


def utterance_frames(pcm: bytes, sample_rate: int, frame_ms: int = 20) -> list[Frame]:
    """An utterance as a transport delivers it: VAD start, 20 ms audio frames, VAD stop."""
    step = sample_rate * frame_ms // 1000 * 2
    audio = [InputAudioRawFrame(pcm[i : i + step], sample_rate, 1) for i in range(0, len(pcm), step)]
    return [VADUserStartedSpeakingFrame(), *audio, VADUserStoppedSpeakingFrame()]


def write_wav(pcm: bytes, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def read_wav(data: bytes) -> tuple[bytes, int]:
    with wave.open(io.BytesIO(data), "rb") as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(expected: str, actual: str) -> float:
    ref, hyp = words(expected), words(actual)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(1, len(ref))
