"""Background upkeep of calls: a browser call nobody connected to does not stay queued forever."""

from __future__ import annotations

from datetime import timedelta

from bvrai.calls.repository import CallRepository
from bvrai.kit import jobs
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow


@jobs.periodic("calls.expire_unconnected", every_s=30)
async def expire_unconnected(ctx: AppContext) -> None:
    now = utcnow()
    async with ctx.sessions() as session:
        await CallRepository(session).expire_unconnected_web_calls(
            created_before=now - timedelta(seconds=ctx.settings.web_call_connect_timeout_s), now=now
        )
        await session.commit()
