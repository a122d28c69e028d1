"""Every identity query. Org-owned rows are read through ``kit.tenancy.scoped``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from bvrai.identity.models import ApiKey, Credential, Invitation, Membership, Organization, RefreshToken, User
from bvrai.kit.pagination import PageParams, paginate
from bvrai.kit.repository import Repository
from bvrai.kit.tenancy import scoped


class IdentityRepository(Repository):
    # organizations and users
    async def organization(self, org_id: str) -> Organization | None:
        stmt = select(Organization).where(Organization.id == org_id, Organization.deleted_at.is_(None))
        return (await self.session.scalars(stmt)).first()

    async def user(self, user_id: str) -> User | None:
        stmt = select(User).where(User.id == user_id, User.deleted_at.is_(None))
        return (await self.session.scalars(stmt)).first()

    async def user_by_email(self, email: str) -> User | None:
        stmt = select(User).where(User.email == email, User.deleted_at.is_(None))
        return (await self.session.scalars(stmt)).first()

    # memberships
    async def active_membership(self, *, org_id: str, user_id: str) -> Membership | None:
        stmt = scoped(Membership, org_id).where(Membership.user_id == user_id)
        return (await self.session.scalars(stmt)).first()

    async def membership(self, org_id: str, membership_id: str) -> Membership | None:
        stmt = scoped(Membership, org_id).where(Membership.id == membership_id)
        return (await self.session.scalars(stmt)).first()

    async def any_membership(self, *, org_id: str, user_id: str) -> Membership | None:
        stmt = scoped(Membership, org_id, include_deleted=True).where(Membership.user_id == user_id)
        return (await self.session.scalars(stmt)).first()

    async def memberships_of_user(self, user_id: str) -> Sequence[tuple[Membership, Organization]]:
        stmt = (
            select(Membership, Organization)
            .join(Organization, Organization.id == Membership.org_id)
            .where(
                Membership.user_id == user_id,
                Membership.deleted_at.is_(None),
                Organization.deleted_at.is_(None),
            )
            .order_by(Membership.created_at)
        )
        return [(m, o) for m, o in (await self.session.execute(stmt)).all()]

    async def members(self, org_id: str, params: PageParams) -> tuple[list[tuple[Membership, User]], str | None]:
        rows, cursor = await paginate(self.session, scoped(Membership, org_id), Membership.id, params)
        users = await self.users_by_id([m.user_id for m in rows])
        return [(m, users[m.user_id]) for m in rows], cursor

    async def users_by_id(self, ids: list[str]) -> dict[str, User]:
        if not ids:
            return {}
        found = await self.session.scalars(select(User).where(User.id.in_(ids)))
        return {u.id: u for u in found}

    async def count_owners(self, org_id: str) -> int:
        stmt = select(func.count()).select_from(scoped(Membership, org_id).where(Membership.role == "owner").subquery())
        return int(await self.session.scalar(stmt) or 0)

    # refresh tokens
    async def refresh_token_by_hash(self, token_hash: str) -> RefreshToken | None:
        stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        return (await self.session.scalars(stmt)).first()

    async def mark_refresh_used(self, token_id: str, now: datetime) -> bool:
        """Atomically spend a token; False when another request spent it first."""
        stmt = (
            update(RefreshToken).where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None)).values(used_at=now)
        )
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        stmt = (
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await self.session.execute(stmt)

    async def revoke_user_tokens_in_org(self, *, user_id: str, org_id: str, now: datetime) -> None:
        stmt = (
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.org_id == org_id)
            .where(RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await self.session.execute(stmt)

    # API keys
    async def api_key_by_hash(self, token_hash: str) -> ApiKey | None:
        stmt = select(ApiKey).where(ApiKey.token_hash == token_hash)
        return (await self.session.scalars(stmt)).first()

    async def api_key(self, org_id: str, key_id: str) -> ApiKey | None:
        stmt = scoped(ApiKey, org_id).where(ApiKey.id == key_id)
        return (await self.session.scalars(stmt)).first()

    async def api_keys(self, org_id: str, params: PageParams) -> tuple[list[ApiKey], str | None]:
        return await paginate(self.session, scoped(ApiKey, org_id), ApiKey.id, params)

    # invitations
    async def invitation(self, org_id: str, invitation_id: str) -> Invitation | None:
        stmt = scoped(Invitation, org_id).where(Invitation.id == invitation_id)
        return (await self.session.scalars(stmt)).first()

    async def invitation_by_hash(self, token_hash: str) -> Invitation | None:
        stmt = select(Invitation).where(Invitation.token_hash == token_hash)
        return (await self.session.scalars(stmt)).first()

    async def invitations(self, org_id: str, params: PageParams) -> tuple[list[Invitation], str | None]:
        stmt = scoped(Invitation, org_id).where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        return await paginate(self.session, stmt, Invitation.id, params)

    # credentials
    async def credential(self, org_id: str, credential_id: str) -> Credential | None:
        stmt = scoped(Credential, org_id).where(Credential.id == credential_id)
        return (await self.session.scalars(stmt)).first()

    async def credential_by_provider(self, org_id: str, provider: str) -> Credential | None:
        stmt = (
            scoped(Credential, org_id)
            .where(Credential.provider == provider)
            .order_by(Credential.created_at.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).first()

    async def credentials(self, org_id: str, params: PageParams) -> tuple[list[Credential], str | None]:
        return await paginate(self.session, scoped(Credential, org_id), Credential.id, params)

    async def all_credentials(self) -> Sequence[Credential]:
        return (await self.session.scalars(select(Credential).where(Credential.deleted_at.is_(None)))).all()
