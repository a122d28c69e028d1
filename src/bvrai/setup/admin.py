"""Operator tasks behind ``bvrai admin``: each opens its own engine and commits its own transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.audit.schemas import VerifyReport
from bvrai.audit.service import Actor, record, verify
from bvrai.config import Settings
from bvrai.identity import credential_service
from bvrai.identity.auth_service import create_account
from bvrai.identity.schemas import SignupIn
from bvrai.kit.crypto import KeyRing
from bvrai.kit.db import make_engine, make_sessionmaker


@dataclass(frozen=True)
class CreatedUser:
    user_id: str
    email: str
    org_id: str
    org_name: str


@asynccontextmanager
async def transaction(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = make_engine(settings.db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            yield session
            await session.commit()
    finally:
        await engine.dispose()


async def create_user(settings: Settings, data: SignupIn) -> CreatedUser:
    """The same account a sign-up makes (user, new org, owner membership), with its audit entry."""
    async with transaction(settings) as session:
        user, org, _ = await create_account(
            session, email=data.email, password=data.password, name=data.name, organization_name=data.organization_name
        )
        await record(
            session,
            actor=Actor(org_id=org.id, actor_type="system", actor_id=None),
            action="organization.create",
            target_type="organization",
            target_id=org.id,
            changes={"name": org.name, "owner": user.email, "via": "cli"},
        )
        return CreatedUser(user_id=user.id, email=user.email, org_id=org.id, org_name=org.name)


async def verify_audit(settings: Settings, org_id: str) -> VerifyReport:
    async with transaction(settings) as session:
        return await verify(session, org_id=org_id)


async def reencrypt_credentials(settings: Settings) -> tuple[int, str]:
    """Re-encrypt under the newest key; returns how many changed and that key's id."""
    settings.require_secrets()
    assert settings.encryption_keys is not None
    keyring = KeyRing.parse(settings.encryption_keys)
    async with transaction(settings) as session:
        count = await credential_service.reencrypt_all(session, keyring=keyring)
    return count, keyring.active_key_id
