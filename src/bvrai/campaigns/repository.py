"""Every campaign query. API reads are tenant-scoped through ``kit.tenancy``; the dialer, which
works for every org, knows its rows by id and says so (``_unscoped``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from bvrai.campaigns.models import Campaign, CampaignAttempt, CampaignContact, DoNotCallEntry
from bvrai.kit.pagination import PageParams, paginate
from bvrai.kit.repository import Repository
from bvrai.kit.tenancy import scoped

IN_FLIGHT = ("dialing", "in_progress")
OPEN = ("pending", "dialing", "in_progress")


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


class CampaignRepository(Repository):
    # --- campaigns ---------------------------------------------------------------------------------------------

    async def campaign(self, org_id: str, campaign_id: str) -> Campaign | None:
        return (await self.session.scalars(scoped(Campaign, org_id).where(Campaign.id == campaign_id))).first()

    async def campaigns(
        self, org_id: str, params: PageParams, status: str | None = None
    ) -> tuple[list[Campaign], str | None]:
        stmt = scoped(Campaign, org_id)
        if status:
            stmt = stmt.where(Campaign.status == status)
        return await paginate(self.session, stmt, Campaign.id, params)

    async def campaign_unscoped(self, campaign_id: str) -> Campaign | None:
        return await self.session.get(Campaign, campaign_id)

    async def running_ids(self) -> Sequence[str]:
        stmt = select(Campaign.id).where(Campaign.status == "running", Campaign.deleted_at.is_(None))
        return (await self.session.scalars(stmt.order_by(Campaign.id))).all()

    async def lock_running(self, campaign_id: str, now: datetime) -> bool:
        """Take the campaign's row lock for this transaction if it is running; False otherwise.

        A write to the row: on PostgreSQL it holds the row until commit (a second worker's tick of the
        same campaign waits, then sees this one's claims); on SQLite the database write lock does.
        Pausing or canceling writes the same row, so it lands between two ticks, never inside one."""
        stmt = (
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == "running", Campaign.deleted_at.is_(None))
            .values(ticked_at=now)
        )
        return bool(_rowcount(await self.session.execute(stmt)))

    async def transition(self, campaign_id: str, *, from_: Sequence[str], values: dict[str, Any]) -> bool:
        stmt = update(Campaign).where(Campaign.id == campaign_id, Campaign.status.in_(from_)).values(**values)
        return bool(_rowcount(await self.session.execute(stmt)))

    # --- contacts ----------------------------------------------------------------------------------------------

    async def existing_hashes(self, campaign_id: str, hashes: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(hashes), 500):
            stmt = select(CampaignContact.phone_hash).where(
                CampaignContact.campaign_id == campaign_id, CampaignContact.phone_hash.in_(hashes[i : i + 500])
            )
            found.update((await self.session.scalars(stmt)).all())
        return found

    async def counts(self, campaign_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Contacts per status, per campaign."""
        out: dict[str, dict[str, int]] = {c: {} for c in campaign_ids}
        if not campaign_ids:
            return out
        stmt = (
            select(CampaignContact.campaign_id, CampaignContact.status, func.count())
            .where(CampaignContact.campaign_id.in_(campaign_ids))
            .group_by(CampaignContact.campaign_id, CampaignContact.status)
        )
        for campaign_id, status, n in (await self.session.execute(stmt)).all():
            out[campaign_id][status] = int(n)
        return out

    async def outcomes(self, campaign_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Finished attempts per outcome (completed, busy, no-answer, failed...), per campaign."""
        out: dict[str, dict[str, int]] = {c: {} for c in campaign_ids}
        if not campaign_ids:
            return out
        stmt = (
            select(CampaignAttempt.campaign_id, CampaignAttempt.outcome, func.count())
            .where(CampaignAttempt.campaign_id.in_(campaign_ids), CampaignAttempt.status == "ended")
            .group_by(CampaignAttempt.campaign_id, CampaignAttempt.outcome)
        )
        for campaign_id, outcome, n in (await self.session.execute(stmt)).all():
            out[campaign_id][str(outcome)] = int(n)
        return out

    async def contacts(
        self, org_id: str, campaign_id: str, params: PageParams, status: str | None
    ) -> tuple[list[CampaignContact], str | None]:
        stmt = scoped(CampaignContact, org_id).where(CampaignContact.campaign_id == campaign_id)
        if status:
            stmt = stmt.where(CampaignContact.status == status)
        return await paginate(self.session, stmt, CampaignContact.id, params)

    async def contact_unscoped(self, contact_id: str) -> CampaignContact | None:
        return await self.session.get(CampaignContact, contact_id)

    def _due(self, campaign_id: str, now: datetime) -> Any:
        return and_(
            CampaignContact.campaign_id == campaign_id,
            CampaignContact.status == "pending",
            or_(CampaignContact.next_attempt_at.is_(None), CampaignContact.next_attempt_at <= now),
        )

    async def due_zones(self, campaign_id: str, now: datetime) -> list[str | None]:
        """The distinct time zones of contacts due now (None: the campaign's)."""
        stmt = select(CampaignContact.timezone).where(self._due(campaign_id, now)).distinct()
        return list((await self.session.scalars(stmt)).all())

    async def due_contacts(
        self, campaign_id: str, now: datetime, *, zones: Sequence[str], default_zone_open: bool, limit: int
    ) -> Sequence[CampaignContact]:
        conditions: list[Any] = []
        if zones:
            conditions.append(CampaignContact.timezone.in_(zones))
        if default_zone_open:
            conditions.append(CampaignContact.timezone.is_(None))
        if not conditions or limit <= 0:
            return []
        in_window = or_(*conditions)
        stmt = (
            select(CampaignContact)
            .where(self._due(campaign_id, now), in_window)
            .order_by(CampaignContact.line, CampaignContact.id)
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def claim_contact(self, contact_id: str, now: datetime) -> bool:
        stmt = (
            update(CampaignContact)
            .where(CampaignContact.id == contact_id, CampaignContact.status == "pending")
            .values(status="dialing", updated_at=now)
        )
        return bool(_rowcount(await self.session.execute(stmt)))

    async def in_flight(self, campaign_id: str) -> int:
        stmt = select(func.count()).where(
            CampaignContact.campaign_id == campaign_id, CampaignContact.status.in_(IN_FLIGHT)
        )
        return int(await self.session.scalar(stmt) or 0)

    async def open_contacts(self, campaign_id: str) -> int:
        stmt = select(func.count()).where(CampaignContact.campaign_id == campaign_id, CampaignContact.status.in_(OPEN))
        return int(await self.session.scalar(stmt) or 0)

    async def cancel_pending(self, campaign_id: str, now: datetime) -> int:
        stmt = (
            update(CampaignContact)
            .where(CampaignContact.campaign_id == campaign_id, CampaignContact.status == "pending")
            .values(status="canceled", updated_at=now)
        )
        return _rowcount(await self.session.execute(stmt))

    # --- attempts ----------------------------------------------------------------------------------------------

    async def attempt(self, contact_id: str, number: int) -> CampaignAttempt | None:
        stmt = select(CampaignAttempt).where(CampaignAttempt.contact_id == contact_id, CampaignAttempt.number == number)
        return (await self.session.scalars(stmt)).first()

    async def attempt_unscoped(self, attempt_id: str) -> CampaignAttempt | None:
        return await self.session.get(CampaignAttempt, attempt_id)

    async def attempt_by_call(self, call_id: str) -> CampaignAttempt | None:
        return (await self.session.scalars(select(CampaignAttempt).where(CampaignAttempt.call_id == call_id))).first()

    async def stale_attempts(
        self, campaign_id: str, now: datetime, limit: int, status: str = "dialing"
    ) -> Sequence[str]:
        """Attempts whose lease ran out: ``dialing`` ones were left by a dead worker (or never got the
        carrier's answer); ``placed`` ones are due for a look at their call's status at the carrier."""
        stmt = (
            select(CampaignAttempt.id)
            .where(
                CampaignAttempt.campaign_id == campaign_id,
                CampaignAttempt.status == status,
                CampaignAttempt.lease_until < now,
            )
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def take_stale(self, attempt_id: str, now: datetime, lease_until: datetime, status: str = "dialing") -> bool:
        """Take a stale attempt to resolve it (one worker wins); its lease is renewed meanwhile."""
        stmt = (
            update(CampaignAttempt)
            .where(
                CampaignAttempt.id == attempt_id,
                CampaignAttempt.status == status,
                CampaignAttempt.lease_until < now,
            )
            .values(lease_until=lease_until, updated_at=now)
        )
        return bool(_rowcount(await self.session.execute(stmt)))

    # --- do-not-call -------------------------------------------------------------------------------------------

    async def dnc_hashes(self, org_id: str, hashes: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(hashes), 500):
            stmt = select(DoNotCallEntry.phone_hash).where(
                DoNotCallEntry.org_id == org_id, DoNotCallEntry.phone_hash.in_(hashes[i : i + 500])
            )
            found.update((await self.session.scalars(stmt)).all())
        return found

    async def dnc_entry(self, org_id: str, entry_id: str) -> DoNotCallEntry | None:
        stmt = scoped(DoNotCallEntry, org_id).where(DoNotCallEntry.id == entry_id)
        return (await self.session.scalars(stmt)).first()

    async def dnc_by_hash(self, org_id: str, phone_hash: str) -> DoNotCallEntry | None:
        stmt = scoped(DoNotCallEntry, org_id).where(DoNotCallEntry.phone_hash == phone_hash)
        return (await self.session.scalars(stmt)).first()

    async def dnc_entries(
        self, org_id: str, params: PageParams, phone_hash: str | None
    ) -> tuple[list[DoNotCallEntry], str | None]:
        stmt = scoped(DoNotCallEntry, org_id)
        if phone_hash:
            stmt = stmt.where(DoNotCallEntry.phone_hash == phone_hash)
        return await paginate(self.session, stmt, DoNotCallEntry.id, params)

    async def delete_dnc(self, entry: DoNotCallEntry) -> None:
        await self.session.delete(entry)
