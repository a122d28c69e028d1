"""Every change is in the audit log, chained by hashes; a row edited in the database is found."""

from __future__ import annotations

from sqlalchemy import text


async def make_some_history(client, owner) -> None:
    await client.patch("/v1/organization", headers=owner.headers, json={"name": "Acme Voice"})
    await client.post("/v1/api-keys", headers=owner.headers, json={"name": "ci"})
    await client.post("/v1/invitations", headers=owner.headers, json={"email": "new@example.com", "role": "member"})
    await client.post(
        "/v1/credentials", headers=owner.headers, json={"provider": "openai", "name": "k", "secret": "s" * 20}
    )


async def test_mutations_are_recorded_with_actor_ip_and_changes(client, owner):
    await make_some_history(client, owner)
    r = await client.get("/v1/audit-logs", headers=owner.headers)
    assert r.status_code == 200
    rows = r.json()["data"]
    assert [row["action"] for row in rows] == [
        "credential.create",
        "invitation.create",
        "api_key.create",
        "organization.update",
        "organization.create",
    ]
    update = rows[3]
    assert update["actor_type"] == "user" and update["actor_id"] == owner.user_id
    assert update["ip"] == "203.0.113.7"
    assert update["changes"] == {"name": ["Acme", "Acme Voice"]}
    assert [row["seq"] for row in rows] == [5, 4, 3, 2, 1]
    assert rows[0]["prev_hash"] == rows[1]["hash"]

    filtered = await client.get("/v1/audit-logs?action=api_key.create", headers=owner.headers)
    assert [row["action"] for row in filtered.json()["data"]] == ["api_key.create"]


async def test_an_intact_chain_verifies(client, owner):
    await make_some_history(client, owner)
    report = (await client.get("/v1/audit-logs/verify", headers=owner.headers)).json()
    assert report == {"valid": True, "checked": 5, "problems": []}


async def test_an_edited_row_is_reported_by_verify(app, client, owner):
    await make_some_history(client, owner)
    rows = (await client.get("/v1/audit-logs", headers=owner.headers)).json()["data"]
    victim = next(row for row in rows if row["action"] == "organization.update")
    async with app.state.ctx.sessions() as s:
        await s.execute(
            text("UPDATE audit_logs SET changes = :c WHERE id = :id"),
            {"c": '{"name": ["Acme", "Innocent"]}', "id": victim["id"]},
        )
        await s.commit()
    report = (await client.get("/v1/audit-logs/verify", headers=owner.headers)).json()
    assert report["valid"] is False
    assert [(p["id"], p["reason"]) for p in report["problems"]] == [
        (victim["id"], "row content does not match its hash")
    ]


async def test_a_deleted_row_is_reported_by_verify(app, client, owner):
    await make_some_history(client, owner)
    rows = (await client.get("/v1/audit-logs", headers=owner.headers)).json()["data"]
    async with app.state.ctx.sessions() as s:
        await s.execute(text("DELETE FROM audit_logs WHERE id = :id"), {"id": rows[2]["id"]})
        await s.commit()
    report = (await client.get("/v1/audit-logs/verify", headers=owner.headers)).json()
    assert report["valid"] is False
    assert {p["id"] for p in report["problems"]} == {rows[1]["id"]}


async def test_each_org_has_its_own_chain(client, owner, signup):
    other = await signup("Other")
    await make_some_history(client, owner)
    theirs = (await client.get("/v1/audit-logs", headers=other.headers)).json()["data"]
    assert [row["action"] for row in theirs] == ["organization.create"]
    assert (await client.get("/v1/audit-logs/verify", headers=other.headers)).json()["checked"] == 1


async def test_pages_walk_the_whole_log(client, owner):
    await make_some_history(client, owner)
    seen, cursor = [], None
    while True:
        url = "/v1/audit-logs?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=owner.headers)).json()
        seen += [row["seq"] for row in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]
