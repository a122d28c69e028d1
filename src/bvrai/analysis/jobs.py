"""The analysis job: one per ended call, keyed by call so a call is analysed once."""

from __future__ import annotations

from bvrai.analysis import service
from bvrai.kit import jobs
from bvrai.kit.context import AppContext


@jobs.task(service.RUN, max_attempts=3, backoff_s=10.0)
async def analyse(ctx: AppContext, *, call_id: str) -> None:
    await service.run(ctx, call_id=call_id)
