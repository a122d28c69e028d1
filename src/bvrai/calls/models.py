from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bvrai.kit.db import Base, IdMixin, SoftDeleteMixin, TimestampMixin, utcnow


class Call(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_org_agent", "org_id", "agent_id"),
        # Lists are newest first (ids are time-sortable): these keep a page an index range scan at 100k+ calls.
        Index("ix_calls_org_id_order", "org_id", "id"),
        Index("ix_calls_org_agent_id_order", "org_id", "agent_id", "id"),
        UniqueConstraint("org_id", "idempotency_key"),
    )

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    agent_version: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(20))  # inbound | outbound | web
    status: Mapped[str] = mapped_column(String(20), index=True)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    end_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # {"turns": [{...per-turn timings in ms...}], "p50_ms": ..., "p90_ms": ...}
    latency: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recording_key: Mapped[str | None] = mapped_column(String(300), default=None)
    # The media token's id, spent when the media connection attaches: a token works once.
    media_token_id: Mapped[str | None] = mapped_column(String(40), default=None)
    media_attached_at: Mapped[datetime | None] = mapped_column(default=None)
    # Telephony: the number and carrier leg the call runs on. The caller's and callee's numbers are
    # encrypted (the key ring, bound to the call) and searchable through a keyed hash (blind index).
    phone_number_id: Mapped[str | None] = mapped_column(ForeignKey("phone_numbers.id"), default=None)
    carrier: Mapped[str | None] = mapped_column(String(20), default=None)
    carrier_call_id: Mapped[str | None] = mapped_column(String(120), default=None, index=True)
    from_number: Mapped[str | None] = mapped_column(Text, default=None)
    to_number: Mapped[str | None] = mapped_column(Text, default=None)
    from_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    to_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    answered_by: Mapped[str | None] = mapped_column(String(30), default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(120), default=None)


class CallMessage(IdMixin, Base):
    """One transcript entry; ``interrupted`` marks an assistant turn the caller talked over, whose
    ``content`` then holds only the words the caller heard."""

    __tablename__ = "call_messages"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))  # user | assistant | tool
    content: Mapped[str] = mapped_column(Text)
    offset_ms: Mapped[int] = mapped_column(Integer)  # since the call started
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallEvent(IdMixin, Base):
    __tablename__ = "call_events"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    type: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
