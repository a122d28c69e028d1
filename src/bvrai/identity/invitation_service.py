"""Invite people to an organization by email and let them join with the one-time token."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.audit.service import Actor, record
from bvrai.identity.auth_service import issue_tokens
from bvrai.identity.models import Invitation, Membership, User
from bvrai.identity.org_service import check_can_manage
from bvrai.identity.passwords import hash_password, verify_password
from bvrai.identity.principal import Principal
from bvrai.identity.repository import IdentityRepository
from bvrai.identity.schemas import (
    InvitationAcceptIn,
    InvitationCreated,
    InvitationIn,
    InvitationOut,
    TokenPair,
)
from bvrai.identity.tokens import INVITATION_PREFIX, hash_token, new_opaque_token
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.kit.errors import Conflict, Unauthorized
from bvrai.kit.ids import new_id
from bvrai.kit.pagination import PageParams
from bvrai.kit.tenancy import found


async def invite(
    session: AsyncSession, *, ctx: AppContext, principal: Principal, data: InvitationIn
) -> InvitationCreated:
    check_can_manage(principal, data.role.value)
    repo = IdentityRepository(session)
    existing = await repo.user_by_email(data.email)
    if existing and await repo.active_membership(org_id=principal.org_id, user_id=existing.id):
        raise Conflict("this person is already a member")
    token = new_opaque_token(INVITATION_PREFIX)
    inv = Invitation(
        id=new_id("inv"),
        org_id=principal.org_id,
        email=data.email,
        role=data.role.value,
        token_hash=hash_token(ctx.secret_key, token, purpose="invitation"),
        invited_by=principal.user_id,
        expires_at=utcnow() + timedelta(seconds=ctx.settings.invitation_ttl_s),
    )
    repo.add(inv)
    await repo.flush()
    await record(
        session,
        actor=principal.actor,
        action="invitation.create",
        target_type="invitation",
        target_id=inv.id,
        changes={"email": inv.email, "role": inv.role},
    )
    return InvitationCreated(**InvitationOut.model_validate(inv).model_dump(), token=token)


async def list_invitations(
    session: AsyncSession, *, principal: Principal, params: PageParams
) -> tuple[list[Invitation], str | None]:
    return await IdentityRepository(session).invitations(principal.org_id, params)


async def get_invitation(session: AsyncSession, *, principal: Principal, invitation_id: str) -> Invitation:
    return found(await IdentityRepository(session).invitation(principal.org_id, invitation_id), "invitation")


async def revoke_invitation(session: AsyncSession, *, principal: Principal, invitation_id: str) -> None:
    inv = await get_invitation(session, principal=principal, invitation_id=invitation_id)
    if inv.accepted_at is not None:
        raise Conflict("the invitation was already accepted")
    inv.revoked_at = utcnow()
    await record(session, actor=principal.actor, action="invitation.revoke", target_type="invitation", target_id=inv.id)


async def accept(session: AsyncSession, *, ctx: AppContext, data: InvitationAcceptIn, ip: str) -> TokenPair:
    repo = IdentityRepository(session)
    now = utcnow()
    inv = await repo.invitation_by_hash(hash_token(ctx.secret_key, data.token, purpose="invitation"))
    if inv is None or inv.revoked_at is not None or inv.accepted_at is not None or inv.expires_at <= now:
        raise Unauthorized("invalid, used or expired invitation")
    org = found(await repo.organization(inv.org_id), "organization")
    user = await repo.user_by_email(inv.email)
    if user is None:
        user = User(
            id=new_id("usr"),
            email=inv.email,
            name=data.name or inv.email.split("@")[0],
            password_hash=hash_password(data.password),
        )
        repo.add(user)
        await repo.flush()
    elif not verify_password(user.password_hash, data.password):
        raise Unauthorized("this email has an account: give its password to accept")
    membership = await repo.any_membership(org_id=org.id, user_id=user.id)
    if membership is None:
        membership = Membership(id=new_id("mem"), org_id=org.id, user_id=user.id, role=inv.role)
        repo.add(membership)
    else:
        membership.deleted_at, membership.role = None, inv.role
    inv.accepted_at = now
    await repo.flush()
    await record(
        session,
        actor=Actor(org_id=org.id, actor_type="user", actor_id=user.id, ip=ip),
        action="invitation.accept",
        target_type="membership",
        target_id=membership.id,
        changes={"invitation_id": inv.id, "role": inv.role},
    )
    return await issue_tokens(session, ctx=ctx, user=user, org=org, role=membership.role)
