"""Agent use cases: create and edit drafts, publish them as frozen versions, roll back, delete.

Every mutation writes its audit row in the same transaction. Specs arrive validated (an ``AgentSpec``);
a partial update is merged into the stored draft and the result validated again as a whole, since
some rules span fields (a knowledge-base tool needs knowledge bases).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.agents.models import Agent, AgentVersion
from bvrai.agents.repository import AgentRepository
from bvrai.agents.spec import AgentSpec, HttpTool, spec_digest
from bvrai.audit.service import record
from bvrai.identity import credential_service
from bvrai.identity.principal import Principal
from bvrai.kit.db import utcnow
from bvrai.kit.errors import Conflict, NotFound, ValidationFailed
from bvrai.kit.ids import new_id
from bvrai.kit.pagination import PageParams
from bvrai.kit.tenancy import found

# Audit rows keep changed values so "who changed what" is answerable, but a 30 kB prompt would swamp
# the log: larger values are recorded by size and digest.
_AUDIT_VALUE_LIMIT = 500


async def create_agent(session: AsyncSession, *, principal: Principal, spec: AgentSpec) -> Agent:
    await _check_references(session, principal=principal, spec=spec)
    stored = spec.stored()
    agent = Agent(id=new_id("agt"), org_id=principal.org_id, name=spec.name, spec=stored)
    repo = AgentRepository(session)
    repo.add(agent)
    await repo.flush()
    await record(
        session,
        actor=principal.actor,
        action="agent.create",
        target_type="agent",
        target_id=agent.id,
        changes={"name": spec.name, "fields": sorted(spec.model_fields_set), "spec_digest": spec_digest(stored)},
    )
    return agent


async def list_agents(
    session: AsyncSession, *, principal: Principal, params: PageParams
) -> tuple[list[Agent], str | None]:
    return await AgentRepository(session).agents(principal.org_id, params)


async def get_agent(session: AsyncSession, *, principal: Principal, agent_id: str) -> Agent:
    return found(await AgentRepository(session).agent(principal.org_id, agent_id), "agent")


async def update_agent(session: AsyncSession, *, principal: Principal, agent_id: str, changes: dict[str, Any]) -> Agent:
    """Merge top-level spec fields into the draft (``None`` resets a field to its default)."""
    agent = await _locked(session, principal=principal, agent_id=agent_id)
    merged = dict(agent.spec)
    for field, value in changes.items():
        if value is None:
            merged.pop(field, None)
        else:
            merged[field] = value
    return await _save_draft(session, principal=principal, agent=agent, spec=_validate(merged))


async def replace_agent(session: AsyncSession, *, principal: Principal, agent_id: str, spec: AgentSpec) -> Agent:
    agent = await _locked(session, principal=principal, agent_id=agent_id)
    return await _save_draft(session, principal=principal, agent=agent, spec=spec)


async def delete_agent(session: AsyncSession, *, principal: Principal, agent_id: str) -> None:
    """Soft delete: versions stay, because past calls point at them."""
    agent = await _locked(session, principal=principal, agent_id=agent_id)
    agent.deleted_at = utcnow()
    await record(
        session,
        actor=principal.actor,
        action="agent.delete",
        target_type="agent",
        target_id=agent.id,
        changes={"name": agent.name},
    )


async def publish_agent(session: AsyncSession, *, principal: Principal, agent_id: str) -> AgentVersion:
    """Freeze the current draft as the next version and make it the one calls use."""
    agent = await _locked(session, principal=principal, agent_id=agent_id)
    repo = AgentRepository(session)
    number = await repo.latest_version_number(principal.org_id, agent.id) + 1
    digest = spec_digest(agent.spec)
    version = AgentVersion(
        id=new_id("agv"),
        agent_id=agent.id,
        org_id=principal.org_id,
        version=number,
        spec=copy.deepcopy(agent.spec),
        spec_digest=digest,
        created_by=principal.actor.actor_id,
    )
    previous = agent.published_version
    agent.published_version, agent.published_spec_digest = number, digest
    repo.add(version)
    try:
        await repo.flush()
    except IntegrityError as exc:
        raise Conflict("the agent was published by another request at the same time; retry") from exc
    await record(
        session,
        actor=principal.actor,
        action="agent.publish",
        target_type="agent",
        target_id=agent.id,
        changes={"version": number, "previous_published_version": previous, "spec_digest": digest},
    )
    return version


async def rollback_agent(session: AsyncSession, *, principal: Principal, agent_id: str, version: int) -> Agent:
    """Publish an earlier version again and reset the draft to it (unpublished edits are dropped)."""
    agent = await _locked(session, principal=principal, agent_id=agent_id)
    target = await AgentRepository(session).version(principal.org_id, agent.id, version)
    if target is None:
        raise NotFound(f"version {version} of this agent not found")
    previous = agent.published_version
    agent.spec, agent.name = target.spec, target.spec["name"]
    agent.published_version, agent.published_spec_digest = target.version, target.spec_digest
    agent.updated_at = utcnow()
    await record(
        session,
        actor=principal.actor,
        action="agent.rollback",
        target_type="agent",
        target_id=agent.id,
        changes={"version": target.version, "previous_published_version": previous},
    )
    return agent


async def list_versions(
    session: AsyncSession, *, principal: Principal, agent_id: str, params: PageParams
) -> tuple[list[AgentVersion], str | None]:
    agent = await get_agent(session, principal=principal, agent_id=agent_id)
    return await AgentRepository(session).versions(principal.org_id, agent.id, params)


async def get_version(session: AsyncSession, *, principal: Principal, agent_id: str, version: int) -> AgentVersion:
    agent = await get_agent(session, principal=principal, agent_id=agent_id)
    return found(await AgentRepository(session).version(principal.org_id, agent.id, version), "agent version")


async def get_published_version(session: AsyncSession, *, principal: Principal, agent_id: str) -> AgentVersion:
    """The version a new call runs; calls should record its id."""
    agent = await get_agent(session, principal=principal, agent_id=agent_id)
    if agent.published_version is None:
        raise Conflict("the agent has never been published; publish it first")
    return await get_version(session, principal=principal, agent_id=agent.id, version=agent.published_version)


# --- helpers ---------------------------------------------------------------------------------------------------


async def _locked(session: AsyncSession, *, principal: Principal, agent_id: str) -> Agent:
    return found(await AgentRepository(session).agent(principal.org_id, agent_id, for_update=True), "agent")


async def _save_draft(session: AsyncSession, *, principal: Principal, agent: Agent, spec: AgentSpec) -> Agent:
    await _check_references(session, principal=principal, spec=spec)
    before, after = agent.spec, spec.stored()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        agent.spec, agent.name = after, spec.name
        await record(
            session,
            actor=principal.actor,
            action="agent.update",
            target_type="agent",
            target_id=agent.id,
            changes={k: {"from": _audit_value(before.get(k)), "to": _audit_value(after.get(k))} for k in changed},
        )
    return agent


def _validate(data: dict[str, Any]) -> AgentSpec:
    try:
        return AgentSpec.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *(str(p) for p in err["loc"])], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors()
        ]
        first = errors[0]
        raise ValidationFailed(f"{'.'.join(first['loc'])}: {first['msg']}", errors=errors) from None


async def _check_references(session: AsyncSession, *, principal: Principal, spec: AgentSpec) -> None:
    """Vault credentials a spec names must exist in the org (a typo would otherwise surface mid-call)."""
    for index, tool in enumerate(spec.tools):
        if isinstance(tool, HttpTool) and tool.credential_id is not None:
            try:
                await credential_service.get_credential(session, principal=principal, credential_id=tool.credential_id)
            except NotFound:
                loc = ["body", "tools", str(index), "http", "credential_id"]
                msg = f"no credential '{tool.credential_id}' in this organization"
                raise ValidationFailed(
                    f"{'.'.join(loc)}: {msg}", errors=[{"loc": loc, "msg": msg, "type": "not_found"}]
                ) from None


def _audit_value(value: Any) -> Any:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    if len(text) <= _AUDIT_VALUE_LIMIT:
        return value
    return {"size": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}
