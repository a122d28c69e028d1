"""Request and response shapes of /v1/agents. The request body of create and replace is ``AgentSpec``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from bvrai.agents.models import Agent
from bvrai.agents.spec import AgentSpec, spec_digest


class AgentOut(BaseModel):
    id: str
    name: str
    spec: AgentSpec = Field(description="The draft: what the next publish will freeze")
    published_version: int | None = Field(description="The version calls use; null until first published")
    has_unpublished_changes: bool = Field(description="The draft differs from the published version (or none is)")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, agent: Agent) -> AgentOut:
        return cls(
            id=agent.id,
            name=agent.name,
            spec=AgentSpec.model_validate(agent.spec),
            published_version=agent.published_version,
            has_unpublished_changes=agent.published_spec_digest != spec_digest(agent.spec),
            created_at=agent.created_at,
            updated_at=agent.updated_at,
        )


class AgentVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    agent_id: str
    version: int
    spec: AgentSpec
    created_by: str | None = Field(description="The user or API key that published it")
    created_at: datetime


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=1_000_000, description="The version to publish again; the draft is reset to its spec")


def _partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """Every top-level field of ``model``, optional, with its own validation kept.

    Built from the spec's fields so the two cannot drift apart.
    """
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[field_name] = (Optional[annotation], Field(default=None, description=info.description))  # noqa: UP045
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


AgentPatch = _partial(AgentSpec, "AgentPatch")
AgentPatch.__doc__ = (
    "Top-level spec fields to change. Each replaces the draft's value whole: to change `llm.model`, send the "
    "whole `llm` object (its fields left out take their defaults). `null` resets a field to its default. "
    "The merged spec is validated again as a whole."
)
