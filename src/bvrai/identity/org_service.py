"""The caller's profile, their organization, and its members."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.audit.service import record
from bvrai.identity.models import Organization
from bvrai.identity.permissions import Role, role_rank
from bvrai.identity.principal import Principal
from bvrai.identity.repository import IdentityRepository
from bvrai.identity.schemas import MemberOut, MembershipSummary, MeOut, OrganizationOut, UserOut
from bvrai.kit.db import utcnow
from bvrai.kit.errors import Conflict, Forbidden
from bvrai.kit.pagination import PageParams
from bvrai.kit.tenancy import found


def _user_only(principal: Principal) -> str:
    if principal.user_id is None:
        raise Forbidden("this route acts on a user; API keys have none")
    return principal.user_id


async def me(session: AsyncSession, *, principal: Principal) -> MeOut:
    repo = IdentityRepository(session)
    user = found(await repo.user(_user_only(principal)), "user")
    memberships = await repo.memberships_of_user(user.id)
    return MeOut(
        user=UserOut.model_validate(user),
        organization_id=principal.org_id,
        role=principal.role,
        permissions=sorted(principal.permissions),
        memberships=[
            MembershipSummary(membership_id=m.id, organization=OrganizationOut.model_validate(o), role=Role(m.role))
            for m, o in memberships
        ],
    )


async def update_me(session: AsyncSession, *, principal: Principal, name: str) -> MeOut:
    user = found(await IdentityRepository(session).user(_user_only(principal)), "user")
    old = user.name
    user.name = name
    await record(
        session,
        actor=principal.actor,
        action="user.update",
        target_type="user",
        target_id=user.id,
        changes={"name": [old, name]},
    )
    return await me(session, principal=principal)


async def get_organization(session: AsyncSession, *, principal: Principal) -> Organization:
    return found(await IdentityRepository(session).organization(principal.org_id), "organization")


async def update_organization(session: AsyncSession, *, principal: Principal, name: str) -> Organization:
    org = await get_organization(session, principal=principal)
    old = org.name
    org.name = name
    org.updated_at = utcnow()
    await record(
        session,
        actor=principal.actor,
        action="organization.update",
        target_type="organization",
        target_id=org.id,
        changes={"name": [old, name]},
    )
    return org


async def list_members(
    session: AsyncSession, *, principal: Principal, params: PageParams
) -> tuple[list[MemberOut], str | None]:
    rows, cursor = await IdentityRepository(session).members(principal.org_id, params)
    out = [
        MemberOut(id=m.id, user=UserOut.model_validate(u), role=Role(m.role), created_at=m.created_at) for m, u in rows
    ]
    return out, cursor


async def _member(session: AsyncSession, principal: Principal, membership_id: str) -> MemberOut:
    repo = IdentityRepository(session)
    m = found(await repo.membership(principal.org_id, membership_id), "member")
    u = found(await repo.user(m.user_id), "member")
    return MemberOut(id=m.id, user=UserOut.model_validate(u), role=Role(m.role), created_at=m.created_at)


async def get_member(session: AsyncSession, *, principal: Principal, membership_id: str) -> MemberOut:
    return await _member(session, principal, membership_id)


def check_can_manage(principal: Principal, target_role: str, new_role: str | None = None) -> None:
    """Only an owner may create or change owners; nobody acts above their own role."""
    own = role_rank(principal.role) if principal.role in Role.__members__.values() else role_rank("admin")
    if role_rank(target_role) > own or (new_role is not None and role_rank(new_role) > own):
        raise Forbidden("you cannot manage a member above your own role")


async def change_role(session: AsyncSession, *, principal: Principal, membership_id: str, role: Role) -> MemberOut:
    repo = IdentityRepository(session)
    m = found(await repo.membership(principal.org_id, membership_id), "member")
    check_can_manage(principal, m.role, role.value)
    if m.role == Role.OWNER and role != Role.OWNER and await repo.count_owners(principal.org_id) <= 1:
        raise Conflict("an organization keeps at least one owner")
    old = m.role
    m.role = role.value
    m.updated_at = utcnow()
    await record(
        session,
        actor=principal.actor,
        action="member.update_role",
        target_type="membership",
        target_id=m.id,
        changes={"role": [old, role.value]},
    )
    return await _member(session, principal, membership_id)


async def remove_member(session: AsyncSession, *, principal: Principal, membership_id: str) -> None:
    repo = IdentityRepository(session)
    m = found(await repo.membership(principal.org_id, membership_id), "member")
    check_can_manage(principal, m.role)
    if m.role == Role.OWNER and await repo.count_owners(principal.org_id) <= 1:
        raise Conflict("an organization keeps at least one owner")
    now = utcnow()
    m.deleted_at = now
    await repo.revoke_user_tokens_in_org(user_id=m.user_id, org_id=principal.org_id, now=now)
    await record(
        session,
        actor=principal.actor,
        action="member.remove",
        target_type="membership",
        target_id=m.id,
        changes={"user_id": m.user_id, "role": m.role},
    )
