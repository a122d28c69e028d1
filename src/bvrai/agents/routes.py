"""/v1/agents: drafts, publishing, versions and rollback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from bvrai.agents import service
from bvrai.agents.schemas import AgentOut, AgentPatch, AgentVersionOut, RollbackIn
from bvrai.agents.spec import AgentSpec
from bvrai.identity.auth import require
from bvrai.identity.principal import Principal
from bvrai.kit.context import Session
from bvrai.kit.errors import problem_responses
from bvrai.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/v1/agents", tags=["agents"])

Reader = Annotated[Principal, Depends(require("agents:read"))]
Writer = Annotated[Principal, Depends(require("agents:write"))]
Pages = Annotated[PageParams, Depends(page_params)]
AgentId = Annotated[str, Path(max_length=64)]
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000)]
READ = problem_responses(401, 403, 404, 422, 429)
WRITE = problem_responses(401, 403, 404, 409, 422, 429)


@router.post("", response_model=AgentOut, status_code=201, responses=problem_responses(401, 403, 422, 429))
async def create_agent(spec: AgentSpec, principal: Writer, session: Session) -> AgentOut:
    """Create an agent from a spec; it is a draft until published."""
    return AgentOut.of(await service.create_agent(session, principal=principal, spec=spec))


@router.get("", response_model=Page[AgentOut], responses=problem_responses(400, 401, 403, 422, 429))
async def list_agents(principal: Reader, session: Session, pages: Pages) -> Page[AgentOut]:
    rows, cursor = await service.list_agents(session, principal=principal, params=pages)
    return Page(data=[AgentOut.of(r) for r in rows], next_cursor=cursor)


@router.get("/{agent_id}", response_model=AgentOut, responses=READ)
async def get_agent(agent_id: AgentId, principal: Reader, session: Session) -> AgentOut:
    return AgentOut.of(await service.get_agent(session, principal=principal, agent_id=agent_id))


@router.patch("/{agent_id}", response_model=AgentOut, responses=WRITE)
async def update_agent(agent_id: AgentId, patch: AgentPatch, principal: Writer, session: Session) -> AgentOut:  # type: ignore[valid-type]
    """Change top-level fields of the draft; the published version is untouched until you publish."""
    changes = patch.model_dump(mode="json", include=patch.model_fields_set)  # type: ignore[attr-defined]
    agent = await service.update_agent(session, principal=principal, agent_id=agent_id, changes=changes)
    return AgentOut.of(agent)


@router.put("/{agent_id}", response_model=AgentOut, responses=WRITE)
async def replace_agent(agent_id: AgentId, spec: AgentSpec, principal: Writer, session: Session) -> AgentOut:
    """Replace the whole draft spec; fields left out take their defaults."""
    return AgentOut.of(await service.replace_agent(session, principal=principal, agent_id=agent_id, spec=spec))


@router.delete("/{agent_id}", status_code=204, responses=WRITE)
async def delete_agent(agent_id: AgentId, principal: Writer, session: Session) -> Response:
    await service.delete_agent(session, principal=principal, agent_id=agent_id)
    return Response(status_code=204)


@router.post("/{agent_id}/publish", response_model=AgentVersionOut, status_code=201, responses=WRITE)
async def publish_agent(agent_id: AgentId, principal: Writer, session: Session) -> AgentVersionOut:
    """Freeze the draft as the next version; new calls use it from now on."""
    version = await service.publish_agent(session, principal=principal, agent_id=agent_id)
    return AgentVersionOut.model_validate(version)


@router.get("/{agent_id}/versions", response_model=Page[AgentVersionOut], responses=READ)
async def list_versions(agent_id: AgentId, principal: Reader, session: Session, pages: Pages) -> Page[AgentVersionOut]:
    """Published versions, newest first."""
    rows, cursor = await service.list_versions(session, principal=principal, agent_id=agent_id, params=pages)
    return Page(data=[AgentVersionOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{agent_id}/versions/{version}", response_model=AgentVersionOut, responses=READ)
async def get_version(
    agent_id: AgentId, version: VersionNumber, principal: Reader, session: Session
) -> AgentVersionOut:
    row = await service.get_version(session, principal=principal, agent_id=agent_id, version=version)
    return AgentVersionOut.model_validate(row)


@router.post("/{agent_id}/rollback", response_model=AgentOut, responses=WRITE)
async def rollback_agent(agent_id: AgentId, data: RollbackIn, principal: Writer, session: Session) -> AgentOut:
    """Make an earlier version the published one again and reset the draft to it."""
    agent = await service.rollback_agent(session, principal=principal, agent_id=agent_id, version=data.version)
    return AgentOut.of(agent)
