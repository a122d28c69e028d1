from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bvrai.kit.db import Base, IdMixin, SoftDeleteMixin, TimestampMixin, utcnow


class Agent(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """An agent's editable draft, and which frozen version calls use."""

    __tablename__ = "agents"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # mirrors spec["name"] for listing without parsing specs
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_version: Mapped[int | None] = mapped_column(Integer, default=None)
    # The digest of the published version's spec, kept here so a list can say whether each draft has
    # unpublished changes without loading versions.
    published_spec_digest: Mapped[str | None] = mapped_column(String(64), default=None)


class AgentVersion(IdMixin, Base):
    """A published spec, frozen: never updated or deleted, because calls record the version they ran."""

    __tablename__ = "agent_versions"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)

    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_digest: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(40), default=None)  # a user or API key id
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
