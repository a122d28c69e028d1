"""Publishing freezes the draft as a numbered version; edits never touch it; rollback brings one back."""

from __future__ import annotations


async def test_publish_edit_publish_keeps_version_one_frozen(client, owner, new_agent):
    agent = await new_agent(owner)
    url = f"/v1/agents/{agent['id']}"

    r = await client.post(f"{url}/publish", headers=owner.headers)
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert v1["version"] == 1 and v1["id"].startswith("agv_") and v1["agent_id"] == agent["id"]
    assert v1["spec"] == agent["spec"] and v1["created_by"] == owner.user_id
    current = (await client.get(url, headers=owner.headers)).json()
    assert current["published_version"] == 1 and current["has_unpublished_changes"] is False

    r = await client.patch(url, headers=owner.headers, json={"system_prompt": "Version two prompt."})
    assert r.json()["has_unpublished_changes"] is True and r.json()["published_version"] == 1

    v2 = (await client.post(f"{url}/publish", headers=owner.headers)).json()
    assert v2["version"] == 2 and v2["spec"]["system_prompt"] == "Version two prompt."

    await client.patch(url, headers=owner.headers, json={"system_prompt": "An unpublished third."})
    again = (await client.get(f"{url}/versions/1", headers=owner.headers)).json()
    assert again == v1

    versions = (await client.get(f"{url}/versions", headers=owner.headers)).json()
    assert [v["version"] for v in versions["data"]] == [2, 1] and versions["next_cursor"] is None
    page = (await client.get(f"{url}/versions", headers=owner.headers, params={"limit": 1})).json()
    assert [v["version"] for v in page["data"]] == [2] and page["next_cursor"]
    page = (await client.get(f"{url}/versions", headers=owner.headers, params={"cursor": page["next_cursor"]})).json()
    assert [v["version"] for v in page["data"]] == [1]


async def test_publishing_an_unchanged_draft_still_makes_a_new_version(client, owner, new_agent):
    agent = await new_agent(owner)
    url = f"/v1/agents/{agent['id']}/publish"
    assert [(await client.post(url, headers=owner.headers)).json()["version"] for _ in range(2)] == [1, 2]


async def test_rollback_republishes_an_old_version_and_resets_the_draft(client, owner, new_agent):
    agent = await new_agent(owner)
    url = f"/v1/agents/{agent['id']}"
    await client.post(f"{url}/publish", headers=owner.headers)
    await client.patch(url, headers=owner.headers, json={"name": "Second", "system_prompt": "two"})
    await client.post(f"{url}/publish", headers=owner.headers)
    await client.patch(url, headers=owner.headers, json={"system_prompt": "draft three"})

    r = await client.post(f"{url}/rollback", headers=owner.headers, json={"version": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["published_version"] == 1 and body["has_unpublished_changes"] is False
    assert body["spec"] == agent["spec"] and body["name"] == agent["name"]

    # Rolling back is not publishing: the next publish is version 3, and version 2 is still there.
    v3 = (await client.post(f"{url}/publish", headers=owner.headers)).json()
    assert v3["version"] == 3 and v3["spec"] == agent["spec"]
    assert (await client.get(f"{url}/versions/2", headers=owner.headers)).json()["spec"]["name"] == "Second"


async def test_rollback_to_a_missing_version_is_refused(client, owner, new_agent):
    agent = await new_agent(owner)
    url = f"/v1/agents/{agent['id']}"
    r = await client.post(f"{url}/rollback", headers=owner.headers, json={"version": 1})
    assert r.status_code == 404 and "version 1" in r.json()["detail"]
    assert (await client.post(f"{url}/rollback", headers=owner.headers, json={"version": 0})).status_code == 422
    assert (await client.get(f"{url}/versions/7", headers=owner.headers)).status_code == 404
    assert (await client.get(f"{url}", headers=owner.headers)).json()["published_version"] is None
