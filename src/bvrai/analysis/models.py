from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bvrai.kit.db import Base, IdMixin, TimestampMixin


class CallAnalysis(IdMixin, TimestampMixin, Base):
    """One per analysed call: what the LLM made of its transcript under the agent's analysis plan."""

    __tablename__ = "call_analyses"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | completed | failed
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    success: Mapped[bool | None] = mapped_column(Boolean, default=None)
    success_reason: Mapped[str | None] = mapped_column(Text, default=None)
    sentiment: Mapped[str | None] = mapped_column(String(20), default=None)  # positive | neutral | negative
    structured_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # valid | failed (the LLM's answer broke the schema twice) | None (the agent asks for none)
    structured_data_status: Mapped[str | None] = mapped_column(String(20), default=None)
    structured_data_error: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    llm: Mapped[str | None] = mapped_column(String(120), default=None)  # provider:model
