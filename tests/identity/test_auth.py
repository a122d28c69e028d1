"""A user signs up, logs in, refreshes and logs out; stolen or forged tokens get nowhere."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt

from bvrai.identity.tokens import issue_access_token
from bvrai.kit.db import utcnow

SECRET = "test-secret-key-with-enough-entropy-0123456789"


async def test_signup_creates_an_org_owned_by_the_new_user(client, owner):
    me = (await client.get("/v1/me", headers=owner.headers)).json()
    assert me["user"]["email"] == owner.email
    assert me["organization_id"] == owner.org_id
    assert me["role"] == "owner"
    assert "agents:write" in me["permissions"]
    assert [m["organization"]["id"] for m in me["memberships"]] == [owner.org_id]


async def test_signup_with_a_taken_email_is_a_conflict(client, owner):
    r = await client.post(
        "/v1/auth/signup",
        json={"email": owner.email.upper(), "password": "another long pw", "name": "X", "organization_name": "Y"},
    )
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Conflict"


async def test_signup_rejects_a_short_password_naming_the_field(client):
    r = await client.post(
        "/v1/auth/signup",
        json={"email": "a@example.com", "password": "short", "name": "A", "organization_name": "O"},
    )
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == 422
    assert any(e["loc"] == ["body", "password"] for e in body["errors"])


async def test_login_and_refresh_rotate_tokens(client, owner):
    r = await client.post("/v1/auth/login", json={"email": owner.email, "password": owner.password})
    assert r.status_code == 200
    first = r.json()
    r = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.status_code == 200


async def test_reusing_a_spent_refresh_token_revokes_the_whole_family(client, owner):
    spent = owner.refresh_token
    r = await client.post("/v1/auth/refresh", json={"refresh_token": spent})
    successor = r.json()["refresh_token"]

    replay = await client.post("/v1/auth/refresh", json={"refresh_token": spent})
    assert replay.status_code == 401
    assert "reuse" in replay.json()["detail"]

    # The legitimate holder's newer token died with the family.
    r = await client.post("/v1/auth/refresh", json={"refresh_token": successor})
    assert r.status_code == 401


async def test_other_logins_survive_a_revoked_family(client, owner):
    other = (await client.post("/v1/auth/login", json={"email": owner.email, "password": owner.password})).json()
    await client.post("/v1/auth/refresh", json={"refresh_token": owner.refresh_token})
    await client.post("/v1/auth/refresh", json={"refresh_token": owner.refresh_token})
    r = await client.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 200


async def test_logout_revokes_the_refresh_token(client, owner):
    assert (await client.post("/v1/auth/logout", json={"refresh_token": owner.refresh_token})).status_code == 204
    r = await client.post("/v1/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert r.status_code == 401


async def test_wrong_password_and_unknown_email_look_the_same(client, owner):
    wrong = await client.post("/v1/auth/login", json={"email": owner.email, "password": "not the password"})
    unknown = await client.post("/v1/auth/login", json={"email": "nobody@example.com", "password": "whatever"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_expired_tampered_and_foreign_jwts_are_401(client, owner):
    expired = issue_access_token(secret=SECRET, user_id=owner.user_id, org_id=owner.org_id, ttl_s=-1)
    header, _payload, signature = owner.access_token.split(".")
    claims = jwt.decode(owner.access_token, options={"verify_signature": False})
    claims["org"] = "org_someone_else"
    forged_payload = jwt.encode(claims, "x" * 40, algorithm="HS256").split(".")[1]
    tampered = f"{header}.{forged_payload}.{signature}"
    foreign = jwt.encode(
        {
            "sub": owner.user_id,
            "org": owner.org_id,
            "iss": "bvrai",
            "typ": "access",
            "iat": utcnow(),
            "exp": utcnow() + timedelta(minutes=5),
        },
        "another-secret-of-sufficient-length-000000",
        algorithm="HS256",
    )
    unsigned = jwt.encode(
        {"sub": owner.user_id, "org": owner.org_id, "iss": "bvrai", "typ": "access"}, None, algorithm="none"
    )
    for token in (expired, tampered, foreign, unsigned, "garbage", ""):
        r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
        assert r.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/me")).status_code == 401


async def test_the_eleventh_failed_login_from_one_ip_is_rate_limited(app, client, owner):
    for attempt in range(10):
        r = await client.post("/v1/auth/login", json={"email": owner.email, "password": f"wrong {attempt}"})
        assert r.status_code == 401
    r = await client.post("/v1/auth/login", json={"email": owner.email, "password": owner.password})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["type"].endswith("/rate-limited")

    # Another address is not punished for it.
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as elsewhere:
        r = await elsewhere.post("/v1/auth/login", json={"email": owner.email, "password": owner.password})
        assert r.status_code == 200
