"""The credentials vault: provider secrets encrypted with the key ring, never returned by the API.

The org id is bound into each ciphertext as associated data, so a secret cannot be made to decrypt
under another org by copying rows. ``reveal`` is for the platform's own use (building a provider
client); no route calls it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.audit.service import record
from bvrai.identity.models import Credential
from bvrai.identity.principal import Principal
from bvrai.identity.repository import IdentityRepository
from bvrai.kit.context import AppContext
from bvrai.kit.crypto import KeyRing
from bvrai.kit.db import utcnow
from bvrai.kit.ids import new_id
from bvrai.kit.pagination import PageParams
from bvrai.kit.tenancy import found


def mask(secret: str) -> str:
    return "…" + secret[-4:] if len(secret) >= 12 else "…"


def _context(org_id: str, credential_id: str) -> str:
    return f"credential|{org_id}|{credential_id}"


async def create_credential(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    provider: str,
    name: str,
    secret: str,
    extra: dict[str, Any],
) -> Credential:
    cred_id = new_id("cred")
    cred = Credential(
        id=cred_id,
        org_id=principal.org_id,
        provider=provider,
        name=name,
        ciphertext=ctx.keyring.encrypt(secret, context=_context(principal.org_id, cred_id)),
        hint=mask(secret),
        extra=extra,
    )
    repo = IdentityRepository(session)
    repo.add(cred)
    await repo.flush()
    await record(
        session,
        actor=principal.actor,
        action="credential.create",
        target_type="credential",
        target_id=cred.id,
        changes={"provider": provider, "name": name, "extra": extra},
    )
    return cred


async def list_credentials(
    session: AsyncSession, *, principal: Principal, params: PageParams
) -> tuple[list[Credential], str | None]:
    return await IdentityRepository(session).credentials(principal.org_id, params)


async def get_credential(session: AsyncSession, *, principal: Principal, credential_id: str) -> Credential:
    return found(await IdentityRepository(session).credential(principal.org_id, credential_id), "credential")


async def update_credential(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    credential_id: str,
    name: str | None,
    secret: str | None,
) -> Credential:
    cred = await get_credential(session, principal=principal, credential_id=credential_id)
    changes: dict[str, Any] = {}
    if name is not None and name != cred.name:
        changes["name"] = [cred.name, name]
        cred.name = name
    if secret is not None:
        cred.ciphertext = ctx.keyring.encrypt(secret, context=_context(cred.org_id, cred.id))
        cred.hint = mask(secret)
        changes["secret"] = "replaced"  # noqa: S105 - an audit note, not a password
    cred.updated_at = utcnow()
    await record(
        session,
        actor=principal.actor,
        action="credential.update",
        target_type="credential",
        target_id=cred.id,
        changes=changes,
    )
    return cred


async def delete_credential(session: AsyncSession, *, principal: Principal, credential_id: str) -> None:
    cred = await get_credential(session, principal=principal, credential_id=credential_id)
    cred.deleted_at = utcnow()
    await record(
        session, actor=principal.actor, action="credential.delete", target_type="credential", target_id=cred.id
    )


async def reveal(session: AsyncSession, *, keyring: KeyRing, org_id: str, provider: str) -> str | None:
    """The decrypted secret of the org's newest credential for ``provider`` (for provider clients)."""
    cred = await IdentityRepository(session).credential_by_provider(org_id, provider)
    if cred is None:
        return None
    return keyring.decrypt(cred.ciphertext, context=_context(cred.org_id, cred.id))


async def reencrypt_all(session: AsyncSession, *, keyring: KeyRing) -> int:
    """Re-encrypt every secret under the active key, so an old key can leave the ring."""
    count = 0
    for cred in await IdentityRepository(session).all_credentials():
        if KeyRing.key_id_of(cred.ciphertext) == keyring.active_key_id:
            continue
        plain = keyring.decrypt(cred.ciphertext, context=_context(cred.org_id, cred.id))
        cred.ciphertext = keyring.encrypt(plain, context=_context(cred.org_id, cred.id))
        count += 1
    return count


async def reveal_by_id(session: AsyncSession, *, keyring: KeyRing, org_id: str, credential_id: str) -> str | None:
    """The decrypted secret of one of the org's credentials (an http tool's bearer token)."""
    cred = await IdentityRepository(session).credential(org_id, credential_id)
    if cred is None:
        return None
    return keyring.decrypt(cred.ciphertext, context=_context(cred.org_id, cred.id))
