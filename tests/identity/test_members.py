"""An owner invites a team; roles decide who may do what; the last owner cannot be removed."""

from __future__ import annotations

from typing import Any


async def invite_and_accept(client, inviter, email: str, role: str) -> dict[str, Any]:
    r = await client.post("/v1/invitations", headers=inviter.headers, json={"email": email, "role": role})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    r = await client.post(
        "/v1/invitations/accept", json={"token": token, "password": "invited user password", "name": "Invitee"}
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    body["headers"] = {"Authorization": f"Bearer {body['access_token']}"}
    return body


async def test_an_invited_admin_joins_and_shows_up_in_the_member_list(client, owner):
    admin = await invite_and_accept(client, owner, "admin@example.com", "admin")
    assert admin["organization"]["id"] == owner.org_id and admin["role"] == "admin"
    members = (await client.get("/v1/members", headers=owner.headers)).json()["data"]
    assert sorted(m["role"] for m in members) == ["admin", "owner"]


async def test_an_invitation_token_works_once(client, owner):
    r = await client.post("/v1/invitations", headers=owner.headers, json={"email": "x@example.com"})
    token = r.json()["token"]
    body = {"token": token, "password": "invited user password"}
    assert (await client.post("/v1/invitations/accept", json=body)).status_code == 201
    assert (await client.post("/v1/invitations/accept", json=body)).status_code == 401


async def test_a_revoked_invitation_cannot_be_accepted(client, owner):
    created = (await client.post("/v1/invitations", headers=owner.headers, json={"email": "y@example.com"})).json()
    pending = (await client.get("/v1/invitations", headers=owner.headers)).json()["data"]
    assert [i["id"] for i in pending] == [created["id"]] and "token" not in pending[0]
    assert (await client.delete(f"/v1/invitations/{created['id']}", headers=owner.headers)).status_code == 204
    r = await client.post("/v1/invitations/accept", json={"token": created["token"], "password": "long password!"})
    assert r.status_code == 401


async def test_viewers_read_but_cannot_manage_people(client, owner):
    viewer = await invite_and_accept(client, owner, "viewer@example.com", "viewer")
    assert (await client.get("/v1/members", headers=viewer["headers"])).status_code == 200
    r = await client.post("/v1/invitations", headers=viewer["headers"], json={"email": "z@example.com"})
    assert r.status_code == 403
    assert (await client.get("/v1/audit-logs", headers=viewer["headers"])).status_code == 403
    assert (await client.get("/v1/credentials", headers=viewer["headers"])).status_code == 403


async def test_an_admin_cannot_make_owners_and_the_last_owner_stays(client, owner):
    admin = await invite_and_accept(client, owner, "admin@example.com", "admin")
    r = await client.post("/v1/invitations", headers=admin["headers"], json={"email": "o@example.com", "role": "owner"})
    assert r.status_code == 403
    members = (await client.get("/v1/members", headers=owner.headers)).json()["data"]
    owner_membership = next(m for m in members if m["role"] == "owner")
    r = await client.patch(f"/v1/members/{owner_membership['id']}", headers=owner.headers, json={"role": "admin"})
    assert r.status_code == 409
    r = await client.delete(f"/v1/members/{owner_membership['id']}", headers=owner.headers)
    assert r.status_code == 409


async def test_a_removed_member_loses_access_at_once(client, owner):
    member = await invite_and_accept(client, owner, "m@example.com", "member")
    members = (await client.get("/v1/members", headers=owner.headers)).json()["data"]
    membership = next(m for m in members if m["role"] == "member")
    assert (await client.delete(f"/v1/members/{membership['id']}", headers=owner.headers)).status_code == 204
    assert (await client.get("/v1/me", headers=member["headers"])).status_code == 401
    r = await client.post("/v1/auth/refresh", json={"refresh_token": member["refresh_token"]})
    assert r.status_code == 401


async def test_a_user_in_two_orgs_chooses_one_at_login(client, owner, signup):
    other = await signup("Other Org")
    await invite_and_accept_existing(client, other, owner)
    me = (await client.get("/v1/me", headers=owner.headers)).json()
    assert {m["organization"]["id"] for m in me["memberships"]} == {owner.org_id, other.org_id}
    r = await client.post(
        "/v1/auth/login", json={"email": owner.email, "password": owner.password, "organization_id": other.org_id}
    )
    assert r.status_code == 200 and r.json()["organization"]["id"] == other.org_id and r.json()["role"] == "member"


async def invite_and_accept_existing(client, inviter, invitee) -> None:
    r = await client.post("/v1/invitations", headers=inviter.headers, json={"email": invitee.email, "role": "member"})
    token = r.json()["token"]
    wrong = await client.post("/v1/invitations/accept", json={"token": token, "password": "not their password"})
    assert wrong.status_code == 401
    r = await client.post("/v1/invitations/accept", json={"token": token, "password": invitee.password})
    assert r.status_code == 201
