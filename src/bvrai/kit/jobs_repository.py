"""Every query on the job table: claim with a lease, finish, reschedule, find what is owed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from bvrai.kit.jobs_models import Job
from bvrai.kit.repository import Repository


class JobRepository(Repository):
    async def by_key(self, key: str) -> Job | None:
        return (await self.session.scalars(select(Job).where(Job.key == key))).first()

    async def get(self, job_id: str) -> Job | None:
        return await self.session.get(Job, job_id)

    async def claim(self, job_id: str, *, claim: str, now: datetime, lease_s: float) -> bool:
        """Take a due job (or one whose lease ran out); False when someone else has it or it is not due."""
        stmt = (
            update(Job)
            .where(
                Job.id == job_id,
                or_(
                    and_(Job.status == "pending", Job.run_at <= now),
                    and_(Job.status == "running", Job.lease_until < now),
                ),
            )
            .values(
                status="running",
                claim=claim,
                lease_until=now + timedelta(seconds=lease_s),
                attempts=Job.attempts + 1,
                updated_at=now,
            )
        )
        return bool((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def settle(self, job_id: str, *, claim: str, values: dict[str, Any]) -> bool:
        """Write a claimed job's outcome, unless its lease was lost and another worker holds it now."""
        stmt = update(Job).where(Job.id == job_id, Job.claim == claim, Job.status == "running").values(**values)
        return bool((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def owed(self, *, now: datetime, kick_grace_s: float, limit: int) -> Sequence[str]:
        """Ids of jobs to hand out: due and not handed out lately, or running past their lease."""
        stale = now - timedelta(seconds=kick_grace_s)
        stmt = (
            select(Job.id)
            .where(
                or_(
                    and_(
                        Job.status == "pending",
                        Job.run_at <= now,
                        or_(Job.kicked_at.is_(None), Job.kicked_at < stale),
                    ),
                    and_(Job.status == "running", Job.lease_until < now),
                )
            )
            .order_by(Job.run_at)
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def mark_kicked(self, job_ids: Sequence[str], now: datetime) -> None:
        if job_ids:
            await self.session.execute(update(Job).where(Job.id.in_(job_ids)).values(kicked_at=now))

    async def busy(self, now: datetime) -> bool:
        """Whether any job is running or due."""
        due = and_(Job.status == "pending", Job.run_at <= now)
        return bool(await self.session.scalar(select(func.count()).where(or_(Job.status == "running", due))))
