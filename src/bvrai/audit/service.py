"""Record audited actions in the same transaction as the change, and verify an org's chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.audit.chain import GENESIS, row_digest
from bvrai.audit.models import AuditLog
from bvrai.audit.repository import AuditRepository
from bvrai.audit.schemas import ChainProblem, VerifyReport
from bvrai.kit.db import utcnow
from bvrai.kit.ids import new_id
from bvrai.kit.pagination import PageParams


@dataclass(frozen=True)
class Actor:
    org_id: str
    actor_type: str  # "user", "api_key" or "system"
    actor_id: str | None
    ip: str | None = None


async def record(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditLog:
    repo = AuditRepository(session)
    await repo.lock_chain(actor.org_id)
    last = await repo.last(actor.org_id)
    row = AuditLog(
        id=new_id("aud"),
        org_id=actor.org_id,
        seq=(last.seq + 1) if last else 1,
        created_at=utcnow(),
        actor_type=actor.actor_type,
        actor_id=actor.actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=actor.ip,
        changes=to_jsonable_python(changes or {}),
        prev_hash=last.hash if last else GENESIS,
    )
    row.hash = row_digest(row)
    repo.add(row)
    await session.flush()
    return row


async def verify(session: AsyncSession, *, org_id: str) -> VerifyReport:
    problems: list[ChainProblem] = []
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    async for row in AuditRepository(session).stream(org_id):
        checked += 1
        if row.seq != expected_seq:
            problems.append(ChainProblem(id=row.id, seq=row.seq, reason=f"expected seq {expected_seq}: rows missing"))
        if row.prev_hash != expected_prev:
            problems.append(ChainProblem(id=row.id, seq=row.seq, reason="prev_hash does not match the previous row"))
        if row_digest(row) != row.hash:
            problems.append(ChainProblem(id=row.id, seq=row.seq, reason="row content does not match its hash"))
        expected_prev, expected_seq = row.hash, row.seq + 1
    return VerifyReport(valid=not problems, checked=checked, problems=problems)


async def list_logs(
    session: AsyncSession, *, org_id: str, params: PageParams, action: str | None = None, target_id: str | None = None
) -> tuple[Sequence[AuditLog], str | None]:
    """The org's audit rows, newest first."""
    return await AuditRepository(session).list(org_id, params, action=action, target_id=target_id)
