"""The authentication dependency: resolve the bearer token to a Principal, then rate-limit it.

``require("agents:write")`` is what routes use; it authenticates, checks the permission (403 when
missing) and counts the request against the per-org and per-key (or per-user) limits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.identity.permissions import permissions_for
from bvrai.identity.principal import Principal
from bvrai.identity.repository import IdentityRepository
from bvrai.identity.tokens import API_KEY_PREFIX, InvalidToken, decode_access_token, hash_token
from bvrai.kit.context import AppContext, Ctx, Session, client_ip
from bvrai.kit.db import utcnow
from bvrai.kit.errors import Unauthorized

bearer = HTTPBearer(
    auto_error=False,
    description="A JWT access token from /v1/auth/login, or an API key (bvr_sk_...)",
)

# Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(seconds=60)


async def authenticate(
    request: Request,
    ctx: Ctx,
    session: Session,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("send 'Authorization: Bearer <access token or API key>'")
    token = credentials.credentials
    repo = IdentityRepository(session)
    ip = client_ip(request)
    if token.startswith(API_KEY_PREFIX):
        key = await repo.api_key_by_hash(hash_token(ctx.secret_key, token, purpose="api-key"))
        now = utcnow()
        if key is None or key.revoked_at is not None:
            raise Unauthorized("invalid or revoked API key")
        if key.expires_at is not None and key.expires_at <= now:
            raise Unauthorized("API key expired")
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            key.last_used_at = now
        principal = Principal(
            org_id=key.org_id, role="api_key", permissions=frozenset(key.scopes), api_key_id=key.id, ip=ip
        )
        await ctx.limiter.hit(ctx.settings.rate_limit_api, "api", "key", key.id)
    else:
        principal = await user_principal(session, ctx=ctx, access_token=token, ip=ip)
    await ctx.limiter.hit(ctx.settings.rate_limit_org, "api", "org", principal.org_id)
    return principal


async def user_principal(session: AsyncSession, *, ctx: AppContext, access_token: str, ip: str) -> Principal:
    """The user and org a JWT access token names, with the permissions of their current role
    (the dashboard's session cookie holds the same token as the API's bearer header)."""
    try:
        claims = decode_access_token(access_token, secret=ctx.secret_key)
    except InvalidToken as exc:
        raise Unauthorized("invalid or expired access token") from exc
    membership = await IdentityRepository(session).active_membership(org_id=claims.org_id, user_id=claims.user_id)
    if membership is None:
        raise Unauthorized("the token's user is no longer a member of its organization")
    await ctx.limiter.hit(ctx.settings.rate_limit_api, "api", "user", claims.user_id)
    return Principal(
        org_id=claims.org_id,
        role=membership.role,
        permissions=permissions_for(membership.role),
        user_id=claims.user_id,
        ip=ip,
    )


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: CurrentPrincipal) -> Principal:
        principal.ensure(permission)
        return principal

    dependency.__name__ = f"require_{permission.replace(':', '_')}"
    return dependency
