from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from sqlalchemy import func, select, text

from bvrai.audit.models import AuditLog
from bvrai.kit.pagination import PageParams, paginate
from bvrai.kit.repository import Repository
from bvrai.kit.tenancy import scoped


class AuditRepository(Repository):
    async def lock_chain(self, org_id: str) -> None:
        """Serialise appends to one org's chain (SQLite already serialises all writers)."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"audit:{org_id}"})

    async def last(self, org_id: str) -> AuditLog | None:
        stmt = scoped(AuditLog, org_id).order_by(AuditLog.seq.desc()).limit(1)
        return (await self.session.scalars(stmt)).first()

    async def list(
        self, org_id: str, params: PageParams, *, action: str | None, target_id: str | None
    ) -> tuple[Sequence[AuditLog], str | None]:
        stmt = scoped(AuditLog, org_id)
        if action:
            stmt = stmt.where(AuditLog.action == action)
        if target_id:
            stmt = stmt.where(AuditLog.target_id == target_id)
        return await paginate(self.session, stmt, AuditLog.id, params)

    async def count(self, org_id: str) -> int:
        stmt = select(func.count()).select_from(AuditLog).where(AuditLog.org_id == org_id)
        return int((await self.session.scalar(stmt)) or 0)

    async def stream(self, org_id: str, batch: int = 500) -> AsyncIterator[AuditLog]:
        after = 0
        while True:
            stmt = scoped(AuditLog, org_id).where(AuditLog.seq > after).order_by(AuditLog.seq).limit(batch)
            rows = list((await self.session.scalars(stmt)).all())
            if not rows:
                return
            for row in rows:
                yield row
            after = rows[-1].seq
            self.session.expunge_all()
