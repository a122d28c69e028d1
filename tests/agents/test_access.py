"""Who may see and change agents: roles, API key scopes, other organizations; every change is audited."""

from __future__ import annotations

MINIMAL = {"name": "Receptionist", "system_prompt": "p"}


async def test_a_viewer_reads_agents_but_cannot_create_or_change_them(client, owner, new_agent, member_headers):
    agent = await new_agent(owner)
    viewer = await member_headers(owner, "viewer")
    assert (await client.get("/v1/agents", headers=viewer)).status_code == 200
    assert (await client.get(f"/v1/agents/{agent['id']}", headers=viewer)).status_code == 200
    r = await client.post("/v1/agents", headers=viewer, json=MINIMAL)
    assert r.status_code == 403 and "agents:write" in r.json()["detail"]
    assert (await client.post(f"/v1/agents/{agent['id']}/publish", headers=viewer)).status_code == 403
    assert (await client.delete(f"/v1/agents/{agent['id']}", headers=viewer)).status_code == 403


async def test_a_member_builds_and_publishes_agents(client, owner, member_headers):
    member = await member_headers(owner, "member")
    r = await client.post("/v1/agents", headers=member, json=MINIMAL)
    assert r.status_code == 201
    assert (await client.post(f"/v1/agents/{r.json()['id']}/publish", headers=member)).status_code == 201


async def test_a_read_only_api_key_lists_but_cannot_create(client, owner, new_agent, key_headers):
    await new_agent(owner)
    key = await key_headers(owner, ["agents:read"])
    r = await client.get("/v1/agents", headers=key)
    assert r.status_code == 200 and len(r.json()["data"]) == 1
    r = await client.post("/v1/agents", headers=key, json=MINIMAL)
    assert r.status_code == 403 and "scope" in r.json()["detail"]


async def test_an_api_key_with_agents_write_creates_and_publishes(client, owner, key_headers, audit_actions):
    key = await key_headers(owner, ["agents:read", "agents:write"])
    r = await client.post("/v1/agents", headers=key, json=MINIMAL)
    assert r.status_code == 201, r.text
    agent_id = r.json()["id"]
    r = await client.post(f"/v1/agents/{agent_id}/publish", headers=key)
    assert r.status_code == 201 and r.json()["created_by"].startswith("key_")
    logs = (await client.get("/v1/audit-logs", headers=owner.headers, params={"target_id": agent_id})).json()["data"]
    assert {row["actor_type"] for row in logs} == {"api_key"}


async def test_another_orgs_agent_is_a_404_everywhere(client, owner, signup, new_agent):
    agent = await new_agent(owner)
    await client.post(f"/v1/agents/{agent['id']}/publish", headers=owner.headers)
    intruder = (await signup("Intruder")).headers
    url = f"/v1/agents/{agent['id']}"
    attempts = [
        client.get(url, headers=intruder),
        client.patch(url, headers=intruder, json={"name": "Mine now"}),
        client.put(url, headers=intruder, json=MINIMAL),
        client.delete(url, headers=intruder),
        client.post(f"{url}/publish", headers=intruder),
        client.get(f"{url}/versions", headers=intruder),
        client.get(f"{url}/versions/1", headers=intruder),
        client.post(f"{url}/rollback", headers=intruder, json={"version": 1}),
    ]
    missing = (await client.get("/v1/agents/agt_doesnotexist", headers=intruder)).json()
    for attempt in attempts:
        r = await attempt
        assert r.status_code == 404, r.text
        assert r.json()["detail"] == missing["detail"]
    assert (await client.get("/v1/agents", headers=intruder)).json()["data"] == []
    unchanged = (await client.get(url, headers=owner.headers)).json()
    assert unchanged["name"] == agent["name"] and unchanged["published_version"] == 1


async def test_every_change_to_an_agent_is_in_the_audit_log(client, owner, new_agent, audit_actions):
    agent = await new_agent(owner)
    url = f"/v1/agents/{agent['id']}"
    await client.patch(url, headers=owner.headers, json={"system_prompt": "new prompt"})
    await client.post(f"{url}/publish", headers=owner.headers)
    await client.put(url, headers=owner.headers, json={"name": "Replaced", "system_prompt": "p"})
    await client.post(f"{url}/rollback", headers=owner.headers, json={"version": 1})
    await client.delete(url, headers=owner.headers)
    assert await audit_actions(owner, agent["id"]) == [
        "agent.create",
        "agent.update",
        "agent.publish",
        "agent.update",
        "agent.rollback",
        "agent.delete",
    ]
    rows = (await client.get("/v1/audit-logs", headers=owner.headers, params={"action": "agent.update"})).json()
    first_edit = rows["data"][-1]["changes"]
    assert first_edit == {"system_prompt": {"from": agent["spec"]["system_prompt"], "to": "new prompt"}}
    assert (await client.get("/v1/audit-logs/verify", headers=owner.headers)).json()["valid"] is True


async def test_an_edit_that_changes_nothing_writes_no_audit_row(client, owner, new_agent, audit_actions):
    agent = await new_agent(owner)
    r = await client.patch(f"/v1/agents/{agent['id']}", headers=owner.headers, json={"name": agent["name"]})
    assert r.status_code == 200
    assert await audit_actions(owner, agent["id"]) == ["agent.create"]
