"""A small pipecat pipeline around the processors under test: frames go in at the top, and what comes
out either end is collected so a test can wait for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from pipecat.frames.frames import EndFrame, Frame, StartFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

F = TypeVar("F", bound=Frame)


class Collector(FrameProcessor):
    """Records the frames travelling one way past it, and lets them on."""

    def __init__(self, direction: FrameDirection, on_frame: Callable[[], None]) -> None:
        super().__init__(enable_direct_mode=True)
        self.frames: list[Frame] = []
        self._direction = direction
        self._on_frame = on_frame

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == self._direction and not isinstance(frame, StartFrame):
            self.frames.append(frame)
            self._on_frame()
        await self.push_frame(frame, direction)


class Harness:
    """``async with Harness(stt) as h: await h.queue(frame); await h.wait_for(TranscriptionFrame)``."""

    def __init__(self, *processors: FrameProcessor, audio_in: int = 16000, audio_out: int = 16000) -> None:
        self._changed = asyncio.Event()
        self.top = Collector(FrameDirection.UPSTREAM, self._notify)
        self.bottom = Collector(FrameDirection.DOWNSTREAM, self._notify)
        self.pipeline = Pipeline([self.top, *processors, self.bottom])
        self.worker = PipelineWorker(
            self.pipeline,
            params=PipelineParams(audio_in_sample_rate=audio_in, audio_out_sample_rate=audio_out),
            cancel_on_idle_timeout=False,
            enable_rtvi=False,
            enable_turn_tracking=False,
            check_dangling_tasks=False,
        )
        self._runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
        self._task: asyncio.Task[Any] | None = None

    def _notify(self) -> None:
        self._changed.set()

    @property
    def downstream(self) -> list[Frame]:
        return self.bottom.frames

    @property
    def upstream(self) -> list[Frame]:
        return self.top.frames

    def down(self, kind: type[F]) -> list[F]:
        return [f for f in self.downstream if isinstance(f, kind)]

    def up(self, kind: type[F]) -> list[F]:
        return [f for f in self.upstream if isinstance(f, kind)]

    async def __aenter__(self) -> Self:
        started = asyncio.Event()

        @self.worker.event_handler("on_pipeline_started")
        async def _started(worker: Any, frame: Any) -> None:
            started.set()

        await self._runner.add_workers(self.worker)
        self._task = asyncio.create_task(self._runner.run())
        await asyncio.wait_for(started.wait(), 10)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        if not self._task.done():
            await self.worker.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._task, 10)

    async def queue(self, *frames: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
        for frame in frames:
            await self.worker.queue_frame(frame, direction)

    async def end(self, within: float = 10) -> None:
        """Finish the pipeline gracefully (EndFrame through every processor)."""
        await self.worker.queue_frame(EndFrame())
        assert self._task is not None
        await asyncio.wait_for(self._task, within)

    async def wait_until(self, check: Callable[[], Any], within: float = 5.0) -> Any:
        """Wait until ``check()`` returns something truthy (re-checked whenever a frame arrives)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            result = check()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                kinds = [type(f).__name__ for f in self.downstream[-30:]]
                up = [f"{type(f).__name__}: {getattr(f, 'error', '')}" for f in self.upstream[-10:]]
                raise AssertionError(f"timed out; last downstream frames: {kinds}; upstream: {up}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    async def wait_for(self, kind: type[F], *, count: int = 1, within: float = 5.0, upstream: bool = False) -> list[F]:
        def check() -> list[F] | None:
            found = self.up(kind) if upstream else self.down(kind)
            return found if len(found) >= count else None

        result: list[F] = await self.wait_until(check, within)
        return result
