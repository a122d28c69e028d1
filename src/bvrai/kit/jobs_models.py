"""The durable job row: the database, not the broker, says what work is owed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bvrai.kit.db import Base, IdMixin, TimestampMixin, utcnow


class Job(IdMixin, TimestampMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_at", "status", "run_at"),)

    kind: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # At most one job per key (e.g. "campaign-tick:cmp_..."); enqueueing an existing key re-arms it.
    key: Mapped[str | None] = mapped_column(String(160), unique=True, default=None)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | running | done | failed
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A running job whose lease passed was lost with its worker: the sweeper hands it out again.
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    claim: Mapped[str | None] = mapped_column(String(40), default=None)
    kicked_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
