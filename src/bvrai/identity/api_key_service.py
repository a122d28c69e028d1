"""API keys: shown once at creation, stored as a keyed hash, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.audit.service import record
from bvrai.identity.models import ApiKey
from bvrai.identity.principal import Principal
from bvrai.identity.repository import IdentityRepository
from bvrai.identity.schemas import ApiKeyCreated, ApiKeyOut
from bvrai.identity.tokens import API_KEY_PREFIX, hash_token, new_opaque_token
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.kit.errors import Forbidden, ValidationFailed
from bvrai.kit.ids import new_id
from bvrai.kit.pagination import PageParams
from bvrai.kit.tenancy import found


async def create_api_key(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    name: str,
    scopes: list[str] | None,
    expires_at: datetime | None,
) -> ApiKeyCreated:
    granted = sorted(principal.permissions) if scopes is None else scopes
    beyond = sorted(set(granted) - principal.permissions)
    if beyond:
        raise Forbidden(f"a key cannot have scopes its creator lacks: {', '.join(beyond)}")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        raise ValidationFailed("expires_at must be a future time with a time zone")
    token = new_opaque_token(API_KEY_PREFIX)
    key = ApiKey(
        id=new_id("key"),
        org_id=principal.org_id,
        name=name,
        display_prefix=token[: len(API_KEY_PREFIX) + 6],
        token_hash=hash_token(ctx.secret_key, token, purpose="api-key"),
        scopes=granted,
        created_by=principal.user_id,
        expires_at=expires_at,
    )
    repo = IdentityRepository(session)
    repo.add(key)
    await repo.flush()
    await record(
        session,
        actor=principal.actor,
        action="api_key.create",
        target_type="api_key",
        target_id=key.id,
        changes={"name": name, "scopes": granted, "expires_at": expires_at},
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=token)


async def list_api_keys(
    session: AsyncSession, *, principal: Principal, params: PageParams
) -> tuple[list[ApiKey], str | None]:
    return await IdentityRepository(session).api_keys(principal.org_id, params)


async def get_api_key(session: AsyncSession, *, principal: Principal, key_id: str) -> ApiKey:
    return found(await IdentityRepository(session).api_key(principal.org_id, key_id), "API key")


async def revoke_api_key(session: AsyncSession, *, principal: Principal, key_id: str) -> None:
    key = await get_api_key(session, principal=principal, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await record(session, actor=principal.actor, action="api_key.revoke", target_type="api_key", target_id=key.id)
