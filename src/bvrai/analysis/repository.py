from __future__ import annotations

from sqlalchemy import select

from bvrai.analysis.models import CallAnalysis
from bvrai.kit.repository import Repository
from bvrai.kit.tenancy import scoped


class AnalysisRepository(Repository):
    async def of_call(self, org_id: str, call_id: str) -> CallAnalysis | None:
        stmt = scoped(CallAnalysis, org_id).where(CallAnalysis.call_id == call_id)
        return (await self.session.scalars(stmt)).first()

    async def of_call_unscoped(self, call_id: str) -> CallAnalysis | None:
        """For the analysis job, which knows the call by id."""
        return (await self.session.scalars(select(CallAnalysis).where(CallAnalysis.call_id == call_id))).first()
