"""API keys shown once, the team and its roles, write-only credentials, and the audit log's verify."""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import WebUser


async def test_an_api_key_is_shown_once_and_works(web_owner: WebUser, client: Any) -> None:
    empty = await web_owner.get("/app/api-keys")
    assert "No API keys" in empty.text
    r = await web_owner.post("/app/api-keys", {"name": "CRM sync", "preset": "read"})
    assert r.status_code == 201
    key = re.search(r'id="new-key-value">(bvr_sk_[^<]+)<', r.text)
    assert key, r.text
    me = await client.get("/v1/agents", headers={"Authorization": f"Bearer {key.group(1)}"})
    assert me.status_code == 200
    denied = await client.post("/v1/agents", headers={"Authorization": f"Bearer {key.group(1)}"}, json={})
    assert denied.status_code == 403  # the read-only preset
    again = await web_owner.get("/app/api-keys")
    assert key.group(1) not in again.text and "CRM sync" in again.text
    key_id = re.search(r'action="/app/api-keys/(key_[^/]+)/revoke"', again.text).group(1)
    assert (await web_owner.post(f"/app/api-keys/{key_id}/revoke")).status_code == 303
    assert "revoked" in (await web_owner.get("/app/api-keys")).text
    assert (await client.get("/v1/agents", headers={"Authorization": f"Bearer {key.group(1)}"})).status_code == 401


async def test_a_key_needs_a_name(web_owner: WebUser) -> None:
    r = await web_owner.post("/app/api-keys", {"name": "  ", "preset": "all"})
    assert r.status_code == 422
    assert "at least 1 character" in r.text.split('id="f-name-error"')[1].split("</p>")[0]


async def test_the_owner_invites_and_manages_the_team(web_owner: WebUser, client: Any) -> None:
    r = await web_owner.post("/app/team/invitations", {"email": "sam@example.com", "role": "viewer"})
    assert r.status_code == 201 and "Invitation for sam@example.com created" in r.text
    token = re.search(r"token=(bvr_inv_[^<]+)</code>", r.text).group(1)
    assert (
        await client.post("/v1/invitations/accept", json={"token": token, "password": "sam password 1"})
    ).status_code == 201
    page = await web_owner.get("/app/team")
    assert "sam@example.com" in page.text
    member_id = re.search(r'action="/app/team/members/(mem_[^/]+)/role"', page.text).group(1)
    assert (await web_owner.post(f"/app/team/members/{member_id}/role", {"role": "member"})).status_code == 303
    assert 'value="member" selected' in (await web_owner.get("/app/team")).text
    bad = await web_owner.post(f"/app/team/members/{member_id}/role", {"role": "emperor"})
    assert bad.status_code == 400
    dup = await web_owner.post("/app/team/invitations", {"email": "sam@example.com", "role": "viewer"})
    assert dup.status_code == 422 and "already a member" in dup.text
    invalid = await web_owner.post("/app/team/invitations", {"email": "nope", "role": "viewer"})
    assert invalid.status_code == 422 and 'id="f-email"' in invalid.text


async def test_credentials_are_write_only(web_owner: WebUser) -> None:
    r = await web_owner.post(
        "/app/credentials", {"provider": "openai", "name": "Prod", "secret": "sk-live-abcdef123456"}
    )
    assert r.status_code == 200 and "will not be shown again" in r.text
    page = (await web_owner.get("/app/credentials")).text
    assert "Prod" in page and "sk-live-abcdef123456" not in page and "3456" in page
    bad = await web_owner.post("/app/credentials", {"provider": "Open AI!", "name": "x", "secret": ""})
    assert bad.status_code == 422 and 'id="f-provider"' in bad.text and "sk-" not in bad.text


async def test_the_audit_log_lists_changes_and_verifies_its_chain(web_owner: WebUser) -> None:
    await web_owner.post("/app/api-keys", {"name": "audited", "preset": "all"})
    page = await web_owner.get("/app/audit")
    assert "api_key.create" in page.text and "organization.create" in page.text
    filtered = await web_owner.get("/app/audit?action=api_key.create")
    assert "organization.create" not in filtered.text.split("<tbody>")[1]
    verify = await web_owner.post("/app/audit/verify", headers={"HX-Request": "true"})
    assert "Chain intact: 2 entries checked" in verify.text


async def test_a_viewer_gets_no_settings_controls(web_owner: WebUser, web_clients: Any, client: Any) -> None:
    r = await web_owner.post("/app/team/invitations", {"email": "vic@example.com", "role": "viewer"})
    token = re.search(r"token=(bvr_inv_[^<]+)</code>", r.text).group(1)
    await client.post("/v1/invitations/accept", json={"token": token, "password": "vic password 1"})
    viewer = WebUser(web_clients(), "vic@example.com", "vic password 1")
    await viewer.get("/app/login")
    await viewer.post("/app/login", {"email": viewer.email, "password": viewer.password})
    team = await viewer.get("/app/team")
    assert team.status_code == 200 and "Invite someone" not in team.text and "Remove" not in team.text
    for url in ("/app/api-keys", "/app/credentials", "/app/audit"):
        assert (await viewer.get(url)).status_code == 403
    nav = team.text.split('<nav class="side"')[1].split("</nav>")[0]
    assert "Agents" in nav and "Audit log" not in nav and "Credentials" not in nav


async def test_an_invitee_joins_from_the_link(web_owner: WebUser, web_clients: Any) -> None:
    r = await web_owner.post("/app/team/invitations", {"email": "joe@example.com", "role": "member"})
    link = re.search(r'id="invite-link">http://testserver(/app/accept-invite\?token=bvr_inv_[^<]+)</code>', r.text)
    assert link, r.text
    joe = WebUser(web_clients(), "joe@example.com", "joe password 12")
    page = await joe.get(link.group(1))
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    short = await joe.post("/app/accept-invite", {"token": token, "name": "Joe", "password": "short"})
    assert short.status_code == 422 and "at least 10 characters" in short.text
    ok = await joe.post("/app/accept-invite", {"token": token, "name": "Joe", "password": joe.password})
    assert ok.status_code == 303
    assert "Joe" in (await joe.get("/app/agents")).text
    again = WebUser(web_clients(), "x@example.com", "whatever pass")
    await again.get("/app/login")
    used = await again.post("/app/accept-invite", {"token": token, "password": "another password"})
    assert used.status_code == 422 and "invalid, used or expired invitation" in used.text
