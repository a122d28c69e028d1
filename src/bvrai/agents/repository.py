"""Every agent query, each confined to one organization through ``kit.tenancy.scoped``."""

from __future__ import annotations

from sqlalchemy import func

from bvrai.agents.models import Agent, AgentVersion
from bvrai.kit.pagination import PageParams, paginate
from bvrai.kit.repository import Repository
from bvrai.kit.tenancy import scoped


class AgentRepository(Repository):
    async def agent(self, org_id: str, agent_id: str, *, for_update: bool = False) -> Agent | None:
        stmt = scoped(Agent, org_id).where(Agent.id == agent_id)
        if for_update:
            # Serialises publish/rollback/edit of one agent on PostgreSQL; SQLite has one writer anyway.
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).first()

    async def agents(self, org_id: str, params: PageParams) -> tuple[list[Agent], str | None]:
        return await paginate(self.session, scoped(Agent, org_id), Agent.id, params)

    async def version(self, org_id: str, agent_id: str, version: int) -> AgentVersion | None:
        stmt = scoped(AgentVersion, org_id).where(AgentVersion.agent_id == agent_id, AgentVersion.version == version)
        return (await self.session.scalars(stmt)).first()

    async def versions(self, org_id: str, agent_id: str, params: PageParams) -> tuple[list[AgentVersion], str | None]:
        # Version ids are time-sortable and versions are only ever appended, so id order is version order.
        stmt = scoped(AgentVersion, org_id).where(AgentVersion.agent_id == agent_id)
        return await paginate(self.session, stmt, AgentVersion.id, params)

    async def latest_version_number(self, org_id: str, agent_id: str) -> int:
        stmt = scoped(AgentVersion, org_id).where(AgentVersion.agent_id == agent_id)
        return int(await self.session.scalar(stmt.with_only_columns(func.max(AgentVersion.version))) or 0)
