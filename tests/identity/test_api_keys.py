"""An owner creates API keys for scripts: shown once, stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text, update

from bvrai.identity.models import ApiKey
from bvrai.kit.db import utcnow


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_key_is_shown_once_and_stored_only_as_a_hash(app, client, owner):
    r = await client.post("/v1/api-keys", headers=owner.headers, json={"name": "ci"})
    assert r.status_code == 201
    created = r.json()
    key = created["key"]
    assert key.startswith("bvr_sk_") and created["display_prefix"] == key[:13]

    listed = (await client.get("/v1/api-keys", headers=owner.headers)).json()["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]
    single = (await client.get(f"/v1/api-keys/{created['id']}", headers=owner.headers)).json()
    assert "key" not in single

    async with app.state.ctx.sessions() as s:
        stored = (await s.execute(text("SELECT token_hash FROM api_keys"))).scalar_one()
    assert stored != key and key not in stored and len(stored) == 64


async def test_a_key_works_until_revoked_and_records_its_last_use(client, owner):
    created = (await client.post("/v1/api-keys", headers=owner.headers, json={"name": "ci"})).json()
    assert created["last_used_at"] is None
    r = await client.get("/v1/organization", headers=bearer(created["key"]))
    assert r.status_code == 200 and r.json()["id"] == owner.org_id
    after = (await client.get(f"/v1/api-keys/{created['id']}", headers=owner.headers)).json()
    assert after["last_used_at"] is not None

    assert (await client.delete(f"/v1/api-keys/{created['id']}", headers=owner.headers)).status_code == 204
    r = await client.get("/v1/organization", headers=bearer(created["key"]))
    assert r.status_code == 401


async def test_an_expired_key_is_refused(app, client, owner):
    future = (utcnow() + timedelta(days=1)).isoformat()
    created = (
        await client.post("/v1/api-keys", headers=owner.headers, json={"name": "temp", "expires_at": future})
    ).json()
    assert (await client.get("/v1/organization", headers=bearer(created["key"]))).status_code == 200
    async with app.state.ctx.sessions() as s:
        await s.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    r = await client.get("/v1/organization", headers=bearer(created["key"]))
    assert r.status_code == 401 and "expired" in r.json()["detail"]


async def test_a_key_in_the_past_or_with_unknown_scopes_is_a_validation_error(client, owner):
    past = (utcnow() - timedelta(days=1)).isoformat()
    r = await client.post("/v1/api-keys", headers=owner.headers, json={"name": "x", "expires_at": past})
    assert r.status_code == 422
    r = await client.post("/v1/api-keys", headers=owner.headers, json={"name": "x", "scopes": ["agents:fly"]})
    assert r.status_code == 422 and "agents:fly" in r.text


async def test_scopes_limit_what_a_key_can_do(client, owner):
    reader = (
        await client.post("/v1/api-keys", headers=owner.headers, json={"name": "ro", "scopes": ["organization:read"]})
    ).json()
    assert (await client.get("/v1/organization", headers=bearer(reader["key"]))).status_code == 200
    r = await client.get("/v1/members", headers=bearer(reader["key"]))
    assert r.status_code == 403
    assert "members:read" in r.json()["detail"]
    r = await client.patch("/v1/organization", headers=bearer(reader["key"]), json={"name": "Hacked"})
    assert r.status_code == 403


async def test_keys_are_not_user_sessions(client, owner):
    created = (await client.post("/v1/api-keys", headers=owner.headers, json={"name": "ci"})).json()
    assert (await client.get("/v1/me", headers=bearer(created["key"]))).status_code == 403
