async def test_health(client):
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.headers["x-request-id"].startswith("req_")


async def test_signup_and_me(owner, client):
    r = await client.get("/v1/me", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "owner"
