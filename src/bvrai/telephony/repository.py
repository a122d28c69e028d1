"""Every phone number query, confined to one organization through ``kit.tenancy.scoped`` (the carrier
webhooks, which know a number and not an org, use the one unscoped lookup)."""

from __future__ import annotations

from sqlalchemy import select

from bvrai.kit.pagination import PageParams, paginate
from bvrai.kit.repository import Repository
from bvrai.kit.tenancy import scoped
from bvrai.telephony.models import PhoneNumber


class PhoneNumberRepository(Repository):
    async def number(self, org_id: str, number_id: str) -> PhoneNumber | None:
        return (await self.session.scalars(scoped(PhoneNumber, org_id).where(PhoneNumber.id == number_id))).first()

    async def numbers(self, org_id: str, params: PageParams) -> tuple[list[PhoneNumber], str | None]:
        return await paginate(self.session, scoped(PhoneNumber, org_id), PhoneNumber.id, params)

    async def by_number(self, carrier: str, number: str) -> PhoneNumber | None:
        """The live number a carrier webhook names, whichever org owns it."""
        stmt = select(PhoneNumber).where(
            PhoneNumber.carrier == carrier, PhoneNumber.number == number, PhoneNumber.deleted_at.is_(None)
        )
        return (await self.session.scalars(stmt)).first()

    async def by_id_unscoped(self, number_id: str) -> PhoneNumber | None:
        return await self.session.get(PhoneNumber, number_id)
