"""The ``bvrai worker`` process: runs jobs until SIGTERM or SIGINT, then stops taking new ones."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence

import structlog

from bvrai.config import Settings
from bvrai.kit.context import AppContext
from bvrai.kit.jobs import JobRunner

log = structlog.get_logger(__name__)


async def run_worker(settings: Settings, *, modules: Sequence[str]) -> None:
    ctx = AppContext.create(settings)
    runner = JobRunner(ctx, consume=True, modules=modules)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runner.start()
    log.info("worker_started", broker="redis" if settings.redis_url else "database polling")
    try:
        await stop.wait()
    finally:
        log.info("worker_stopping")
        await runner.stop()
        await ctx.close()
