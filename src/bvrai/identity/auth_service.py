"""Sign-up, log-in, refresh-token rotation and log-out.

Refresh tokens rotate: each use spends the token and issues its successor in the same family. A
spent token presented again means it was copied (a thief or a replay), so the whole family is
revoked and every holder must log in again (OAuth 2.0 Security BCP, section 4.14).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.audit.service import Actor, record
from bvrai.identity.models import Membership, Organization, RefreshToken, User
from bvrai.identity.passwords import hash_password, verify_password
from bvrai.identity.permissions import Role
from bvrai.identity.repository import IdentityRepository
from bvrai.identity.schemas import LoginIn, OrganizationOut, SignupIn, TokenPair, UserOut
from bvrai.identity.tokens import REFRESH_PREFIX, hash_token, issue_access_token, new_opaque_token
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.kit.errors import Conflict, NotFound, Unauthorized
from bvrai.kit.ids import new_id


async def issue_tokens(
    session: AsyncSession,
    *,
    ctx: AppContext,
    user: User,
    org: Organization,
    role: str,
    family_id: str | None = None,
) -> TokenPair:
    refresh = new_opaque_token(REFRESH_PREFIX)
    IdentityRepository(session).add(
        RefreshToken(
            id=new_id("rt"),
            user_id=user.id,
            org_id=org.id,
            family_id=family_id or new_id("rtf"),
            token_hash=hash_token(ctx.secret_key, refresh, purpose="refresh"),
            expires_at=utcnow() + timedelta(seconds=ctx.settings.refresh_token_ttl_s),
        )
    )
    ttl = ctx.settings.access_token_ttl_s
    return TokenPair(
        access_token=issue_access_token(secret=ctx.secret_key, user_id=user.id, org_id=org.id, ttl_s=ttl),
        expires_in=ttl,
        refresh_token=refresh,
        user=UserOut.model_validate(user),
        organization=OrganizationOut.model_validate(org),
        role=Role(role),
    )


async def create_account(
    session: AsyncSession, *, email: str, password: str, name: str, organization_name: str
) -> tuple[User, Organization, Membership]:
    repo = IdentityRepository(session)
    if await repo.user_by_email(email) is not None:
        raise Conflict("an account with this email already exists")
    user = User(id=new_id("usr"), email=email, name=name, password_hash=hash_password(password))
    org = Organization(id=new_id("org"), name=organization_name)
    membership = Membership(id=new_id("mem"), org_id=org.id, user_id=user.id, role=Role.OWNER.value)
    repo.add(user, org)
    await repo.flush()
    repo.add(membership)
    await repo.flush()
    return user, org, membership


async def signup(session: AsyncSession, *, ctx: AppContext, data: SignupIn, ip: str) -> TokenPair:
    user, org, membership = await create_account(
        session,
        email=data.email,
        password=data.password,
        name=data.name,
        organization_name=data.organization_name,
    )
    await record(
        session,
        actor=Actor(org_id=org.id, actor_type="user", actor_id=user.id, ip=ip),
        action="organization.create",
        target_type="organization",
        target_id=org.id,
        changes={"name": org.name, "owner": user.email},
    )
    return await issue_tokens(session, ctx=ctx, user=user, org=org, role=membership.role)


async def login(session: AsyncSession, *, ctx: AppContext, data: LoginIn, ip: str) -> TokenPair:
    """Check the password; failures count against the per-IP failed-login limit."""
    failed_key = ("login-failed", ip)
    limit = ctx.settings.rate_limit_failed_login_ip
    if not await ctx.limiter.test(limit, *failed_key):
        await ctx.limiter.hit(limit, *failed_key)  # raises the 429 with its Retry-After
    repo = IdentityRepository(session)
    user = await repo.user_by_email(data.email)
    if not verify_password(user.password_hash if user else None, data.password) or user is None:
        await ctx.limiter.hit(limit, *failed_key)
        raise Unauthorized("wrong email or password")
    memberships = await repo.memberships_of_user(user.id)
    if data.organization_id:
        memberships = [(m, o) for m, o in memberships if o.id == data.organization_id]
    if not memberships:
        raise Unauthorized("this account has no access to that organization")
    membership, org = memberships[0]
    return await issue_tokens(session, ctx=ctx, user=user, org=org, role=membership.role)


async def refresh(session: AsyncSession, *, ctx: AppContext, refresh_token: str) -> TokenPair:
    repo = IdentityRepository(session)
    now = utcnow()
    token = await repo.refresh_token_by_hash(hash_token(ctx.secret_key, refresh_token, purpose="refresh"))
    if token is None or token.revoked_at is not None:
        raise Unauthorized("invalid or revoked refresh token")
    if token.used_at is not None or not await repo.mark_refresh_used(token.id, now):
        await repo.revoke_family(token.family_id, now)
        # Commit the revocation even though the request fails.
        await session.commit()
        raise Unauthorized("refresh token reuse detected; every session of this login was revoked")
    if token.expires_at <= now:
        raise Unauthorized("refresh token expired")
    user = await repo.user(token.user_id)
    org = await repo.organization(token.org_id)
    membership = await repo.active_membership(org_id=token.org_id, user_id=token.user_id)
    if user is None or org is None or membership is None:
        raise Unauthorized("the account no longer has access to this organization")
    return await issue_tokens(session, ctx=ctx, user=user, org=org, role=membership.role, family_id=token.family_id)


async def logout(session: AsyncSession, *, ctx: AppContext, refresh_token: str) -> None:
    repo = IdentityRepository(session)
    token = await repo.refresh_token_by_hash(hash_token(ctx.secret_key, refresh_token, purpose="refresh"))
    if token is not None:
        await repo.revoke_family(token.family_id, utcnow())


async def switch_organization(
    session: AsyncSession, *, ctx: AppContext, refresh_token: str, organization_id: str
) -> TokenPair:
    """A new session in another of the user's organizations; the current login's tokens are revoked."""
    repo = IdentityRepository(session)
    now = utcnow()
    token = await repo.refresh_token_by_hash(hash_token(ctx.secret_key, refresh_token, purpose="refresh"))
    if token is None or token.revoked_at is not None or token.used_at is not None or token.expires_at <= now:
        raise Unauthorized("your session has ended; log in again")
    user = await repo.user(token.user_id)
    membership = await repo.active_membership(org_id=organization_id, user_id=token.user_id)
    org = await repo.organization(organization_id)
    if user is None or membership is None or org is None:
        raise NotFound("organization not found")
    await repo.revoke_family(token.family_id, now)
    return await issue_tokens(session, ctx=ctx, user=user, org=org, role=membership.role)
