"""Provider secrets go into an encrypted vault: never returned, never readable in the database,
and still readable after the encryption key is rotated."""

from __future__ import annotations

import base64

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import text, update

from bvrai.app import create_app
from bvrai.identity.credential_service import reencrypt_all, reveal
from bvrai.identity.models import Credential
from tests.conftest import TEST_KEYS, make_settings

SECRET = "sk-live-0123456789abcdefSECRET"
K2 = "k2:" + base64.urlsafe_b64encode(b"\x02" * 32).decode()


async def store(client, account, secret: str = SECRET, provider: str = "openai") -> dict:
    r = await client.post(
        "/v1/credentials", headers=account.headers, json={"provider": provider, "name": "main", "secret": secret}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_the_api_never_returns_a_secret(client, owner):
    created = await store(client, owner)
    assert created["hint"] == "…CRET"
    assert SECRET not in str(created)
    listed = await client.get("/v1/credentials", headers=owner.headers)
    single = await client.get(f"/v1/credentials/{created['id']}", headers=owner.headers)
    audit = await client.get("/v1/audit-logs", headers=owner.headers)
    for r in (listed, single, audit):
        assert r.status_code == 200 and SECRET not in r.text


async def test_secrets_are_encrypted_at_rest(app, client, owner):
    created = await store(client, owner)
    async with app.state.ctx.sessions() as s:
        raw = (await s.execute(text("SELECT ciphertext FROM credentials"))).scalar_one()
        assert SECRET not in raw and raw.startswith("k1:")
        assert await reveal(s, keyring=app.state.ctx.keyring, org_id=owner.org_id, provider="openai") == SECRET
        assert await reveal(s, keyring=app.state.ctx.keyring, org_id="org_other", provider="openai") is None
    assert created["id"].startswith("cred_")


async def test_replacing_a_secret_changes_the_hint(client, owner):
    created = await store(client, owner)
    r = await client.patch(
        f"/v1/credentials/{created['id']}", headers=owner.headers, json={"secret": "new-secret-value-9999"}
    )
    assert r.status_code == 200 and r.json()["hint"] == "…9999"


async def test_a_ciphertext_copied_to_another_org_does_not_decrypt(app, client, owner, signup):
    await store(client, owner)
    other = await signup("Other")
    await store(client, other, secret="other-org-secret-000000")
    async with app.state.ctx.sessions() as s:
        query = text("SELECT ciphertext FROM credentials WHERE org_id = :org")
        mine = (await s.execute(query, {"org": owner.org_id})).scalar()
        await s.execute(update(Credential).where(Credential.org_id == other.org_id).values(ciphertext=mine))
        await s.commit()
        try:
            await reveal(s, keyring=app.state.ctx.keyring, org_id=other.org_id, provider="openai")
        except ValueError as exc:
            assert "tampered" in str(exc)
        else:
            raise AssertionError("a moved ciphertext decrypted")


async def test_rotation_keeps_old_secrets_readable_and_encrypts_new_ones_with_the_new_key(
    app, client, owner, database_url, tmp_path
):
    old = await store(client, owner, secret="secret-under-key-one-1111")
    rotated = make_settings(database_url, tmp_path, encryption_keys=f"{TEST_KEYS},{K2}")
    second = create_app(rotated)
    async with LifespanManager(second):
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c2:
            new = await store(c2, owner, secret="secret-under-key-two-2222", provider="deepgram")
        ring = second.state.ctx.keyring
        async with second.state.ctx.sessions() as s:
            rows = dict((await s.execute(text("SELECT id, ciphertext FROM credentials"))).all())
            assert rows[old["id"]].startswith("k1:") and rows[new["id"]].startswith("k2:")
            assert await reveal(s, keyring=ring, org_id=owner.org_id, provider="openai") == "secret-under-key-one-1111"
            assert (
                await reveal(s, keyring=ring, org_id=owner.org_id, provider="deepgram") == "secret-under-key-two-2222"
            )
            assert await reencrypt_all(s, keyring=ring) == 1
            await s.commit()

    # After re-encryption the old key can leave the ring.
    only_new = create_app(make_settings(database_url, tmp_path, encryption_keys=K2))
    async with LifespanManager(only_new), only_new.state.ctx.sessions() as s:
        ring = only_new.state.ctx.keyring
        assert await reveal(s, keyring=ring, org_id=owner.org_id, provider="openai") == "secret-under-key-one-1111"
