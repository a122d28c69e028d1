"""Every call query, each confined to one organization through ``kit.tenancy.scoped``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update

from bvrai.calls.models import Call, CallEvent, CallMessage
from bvrai.kit.ids import id_floor
from bvrai.kit.pagination import PageParams, paginate
from bvrai.kit.repository import Repository
from bvrai.kit.tenancy import scoped


class CallRepository(Repository):
    async def call(self, org_id: str, call_id: str) -> Call | None:
        return (await self.session.scalars(scoped(Call, org_id).where(Call.id == call_id))).first()

    async def calls(
        self,
        org_id: str,
        params: PageParams,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        direction: str | None = None,
        phone_hash: str | None = None,
        end_reason: str | None = None,
        created_from: datetime | None = None,
        created_before: datetime | None = None,
    ) -> tuple[list[Call], str | None]:
        stmt = scoped(Call, org_id)
        if end_reason:
            stmt = stmt.where(Call.end_reason == end_reason)
        # Ids are time-sortable, so a date range is also an id range, which the (org_id, id) index serves.
        if created_from:
            stmt = stmt.where(Call.created_at >= created_from, Call.id >= id_floor("call", created_from))
        if created_before:
            stmt = stmt.where(Call.created_at < created_before, Call.id < id_floor("call", created_before))
        if phone_hash:
            stmt = stmt.where(or_(Call.from_hash == phone_hash, Call.to_hash == phone_hash))
        if agent_id:
            stmt = stmt.where(Call.agent_id == agent_id)
        if status:
            stmt = stmt.where(Call.status == status)
        if direction:
            stmt = stmt.where(Call.direction == direction)
        return await paginate(self.session, stmt, Call.id, params)

    async def spend_media_token(self, call_id: str, token_id: str, now: datetime) -> bool:
        """Atomically attach media once; False when the token was spent or is not this call's."""
        stmt = (
            update(Call)
            .where(Call.id == call_id, Call.media_token_id == token_id, Call.media_attached_at.is_(None))
            .values(media_attached_at=now)
        )
        return bool((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def by_carrier_call(self, carrier: str, carrier_call_id: str) -> Call | None:
        """The call a carrier's webhook names by its own id (the media plane and webhooks, unscoped)."""
        stmt = select(Call).where(Call.carrier == carrier, Call.carrier_call_id == carrier_call_id)
        return (await self.session.scalars(stmt)).first()

    async def by_idempotency_key(self, org_id: str, key: str) -> Call | None:
        return (await self.session.scalars(scoped(Call, org_id).where(Call.idempotency_key == key))).first()

    async def call_unscoped(self, call_id: str) -> Call | None:
        """For the media plane, which knows the call from a verified token, not from a principal."""
        return await self.session.get(Call, call_id)

    async def claim_end(self, call: Call, now: datetime) -> bool:
        """Mark the call ended unless another transaction did (the session's end and the carrier's
        callback race): True for the one that ends it. The loser's row is reloaded as the winner left it."""
        await self.session.flush()
        stmt = update(Call).where(Call.id == call.id, Call.ended_at.is_(None)).values(ended_at=now)
        won = bool((await self.session.execute(stmt.execution_options(synchronize_session=False))).rowcount)  # type: ignore[attr-defined]
        await self.session.refresh(call)
        return won

    async def messages(self, org_id: str, call_id: str) -> Sequence[CallMessage]:
        stmt = scoped(CallMessage, org_id).where(CallMessage.call_id == call_id).order_by(CallMessage.seq)
        return (await self.session.scalars(stmt)).all()

    async def next_message_seq(self, call_id: str) -> int:
        stmt = select(func.max(CallMessage.seq)).where(CallMessage.call_id == call_id)
        return int(await self.session.scalar(stmt) or 0) + 1

    async def events(self, org_id: str, call_id: str) -> Sequence[CallEvent]:
        stmt = scoped(CallEvent, org_id).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
        return (await self.session.scalars(stmt)).all()

    async def expire_unconnected_web_calls(self, *, created_before: datetime, now: datetime) -> int:
        """Web calls still queued that no media connection ever attached to: canceled, for every org."""
        stmt = (
            update(Call)
            .where(
                Call.direction == "web",
                Call.status == "queued",
                Call.media_attached_at.is_(None),
                Call.created_at < created_before,
            )
            .values(status="canceled", end_reason="never-connected", ended_at=now, duration_s=0.0, updated_at=now)
        )
        return int((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]
