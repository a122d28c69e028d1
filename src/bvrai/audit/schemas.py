from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditLogOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    seq: int
    created_at: datetime
    actor_type: str
    actor_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    changes: dict[str, Any]
    hash: str
    prev_hash: str


class ChainProblem(BaseModel):
    id: str
    seq: int
    reason: str


class VerifyReport(BaseModel):
    valid: bool
    checked: int
    problems: list[ChainProblem]
