"""Campaigns, their contacts, each dial attempt, and the org's do-not-call list.

Contacts' numbers are encrypted (bound to their row) and found through a blind index (keyed hash),
like the numbers on call records; the do-not-call list keeps the same pair.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bvrai.kit.db import Base, IdMixin, SoftDeleteMixin, TimestampMixin, utcnow


class Campaign(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_status", "status"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    phone_number_id: Mapped[str] = mapped_column(ForeignKey("phone_numbers.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft|running|paused|completed|canceled
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"start": "09:00", "end": "20:00", "days": [0, 1, 2, 3, 4]} in each contact's time zone; 0 = Monday
    window: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    max_concurrent: Mapped[int] = mapped_column(Integer, default=1)
    # {"delay_s": 3600, "max_attempts": 3, "on": ["busy", "no-answer", "failed"]}
    retry: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    machine_detection: Mapped[bool] = mapped_column(Boolean, default=False)
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=30)
    # Why the dialer paused the campaign by itself (the agent was unpublished, the number removed...).
    paused_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # Written by every dialer tick that takes the campaign's row lock (see repository.lock_running).
    ticked_at: Mapped[datetime | None] = mapped_column(default=None)


class CampaignContact(IdMixin, TimestampMixin, Base):
    __tablename__ = "campaign_contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone_hash"),
        Index("ix_campaign_contacts_due", "campaign_id", "status", "next_attempt_at"),
    )

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    line: Mapped[int] = mapped_column(Integer)  # its line in the uploaded CSV
    phone: Mapped[str] = mapped_column(Text)  # E.164, encrypted
    phone_hash: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)  # None: the campaign's
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending | dialing | in_progress | completed | failed | canceled
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # attempts that reached an outcome
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_outcome: Mapped[str | None] = mapped_column(String(30), default=None)
    last_call_id: Mapped[str | None] = mapped_column(String(40), default=None)


class CampaignAttempt(IdMixin, Base):
    """One dial of one contact. Written (with the call id and idempotency key it will use) and
    committed before the carrier is asked, so a dial that a dead worker left behind is known."""

    __tablename__ = "campaign_attempts"
    __table_args__ = (
        UniqueConstraint("contact_id", "number"),
        Index("ix_campaign_attempts_open", "campaign_id", "status", "lease_until"),
    )

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("campaign_contacts.id"))
    number: Mapped[int] = mapped_column(Integer)  # 1 for the first attempt of the contact
    call_id: Mapped[str] = mapped_column(String(40), unique=True)  # chosen before dialing
    idempotency_key: Mapped[str] = mapped_column(String(120))
    # dialing (the carrier may or may not have it) | placed | ended | not_placed | unknown
    status: Mapped[str] = mapped_column(String(20), default="dialing")
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    carrier_call_id: Mapped[str | None] = mapped_column(String(120), default=None)
    outcome: Mapped[str | None] = mapped_column(String(30), default=None)
    recovered: Mapped[str | None] = mapped_column(String(30), default=None)  # how a lost dial was resolved
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DoNotCallEntry(IdMixin, Base):
    __tablename__ = "do_not_call"
    __table_args__ = (UniqueConstraint("org_id", "phone_hash"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    phone: Mapped[str] = mapped_column(Text)  # encrypted
    phone_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
