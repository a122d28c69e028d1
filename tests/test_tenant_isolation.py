"""Another organization walks every /v1 route with its own credentials and our ids: it sees nothing.

The walk is driven by /openapi.json, so a new route joins it automatically; a new route that takes
a body must be given one in BODIES (the test names it when missing), so that the request reaches the
handler instead of stopping at validation.
"""

from __future__ import annotations

import re
from typing import Any

PUBLIC = {"/v1/auth/signup", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout", "/v1/invitations/accept"}

BODIES: dict[str, Any] = {
    "PATCH /v1/me": {"name": "Intruder"},
    "PATCH /v1/organization": {"name": "Intruder"},
    "PATCH /v1/members/{member_id}": {"role": "viewer"},
    "POST /v1/invitations": {"email": "spy@example.com", "role": "viewer"},
    "POST /v1/api-keys": {"name": "spy"},
    "POST /v1/credentials": {"provider": "openai", "name": "spy", "secret": "spy-secret-000000"},
    "PATCH /v1/credentials/{credential_id}": {"name": "stolen", "secret": "replaced-secret-0000"},
    "POST /v1/agents": {"name": "Spy agent", "system_prompt": "spy"},
    "PUT /v1/agents/{agent_id}": {"name": "Stolen", "system_prompt": "stolen"},
    "PATCH /v1/agents/{agent_id}": {"name": "Stolen"},
    "POST /v1/agents/{agent_id}/rollback": {"version": 1},
    "POST /v1/knowledge-bases": {"name": "Spy kb"},
    "PATCH /v1/knowledge-bases/{kb_id}": {"name": "Stolen"},
    "POST /v1/knowledge-bases/{kb_id}/documents": {"url": "https://example.com/stolen"},
    "POST /v1/knowledge-bases/{kb_id}/search": {"query": "secret"},
    # Bodies may name our ids too: "{agent_id}" is filled in like a path parameter.
    "POST /v1/web-calls": {"agent_id": "{agent_id}"},
    "POST /v1/calls": {"agent_id": "{agent_id}", "phone_number_id": "{number_id}", "to": "+14155550123"},
    "POST /v1/calls/{call_id}/transfer": {"number": "+14155550150"},
    "POST /v1/phone-numbers": {
        "number": "+14155550177",
        "carrier": "twilio",
        "credential_id": "{twilio_credential_id}",
    },
    "PATCH /v1/phone-numbers/{number_id}": {"name": "Stolen", "inbound_agent_id": "{agent_id}"},
    "POST /v1/webhooks": {"url": "https://example.com/spy"},
    "PATCH /v1/webhooks/{webhook_id}": {"url": "https://example.com/stolen", "enabled": False},
    "POST /v1/campaigns": {"name": "Spy", "agent_id": "{agent_id}", "phone_number_id": "{number_id}"},
    "PATCH /v1/campaigns/{campaign_id}": {"name": "Stolen", "max_concurrent": 100},
    "POST /v1/campaigns/{campaign_id}/contacts": {},
    "POST /v1/do-not-call": {"number": "+14155550123"},
}

# Org-wide routes without ids: they answer with the caller's own org, never ours.
OWN_ORG_ONLY = re.compile(r"^/v1/[a-z\-]+(/verify|/signing-secret|/available)?$|^/v1/me$")


async def build_victim_org(client, owner, signup) -> dict[str, str]:
    """Org A with one of everything; returns path-parameter name -> id."""
    h = owner.headers
    member = (await client.post("/v1/invitations", headers=h, json={"email": "m@example.com", "role": "member"})).json()
    await client.post("/v1/invitations/accept", json={"token": member["token"], "password": "member password 1"})
    pending = (await client.post("/v1/invitations", headers=h, json={"email": "p@example.com"})).json()
    key = (await client.post("/v1/api-keys", headers=h, json={"name": "victim key"})).json()
    cred = (
        await client.post(
            "/v1/credentials", headers=h, json={"provider": "openai", "name": "victim", "secret": "victim-secret-1234"}
        )
    ).json()
    agent = (await client.post("/v1/agents", headers=h, json={"name": "Victim", "system_prompt": "secret"})).json()
    assert (await client.post(f"/v1/agents/{agent['id']}/publish", headers=h)).status_code == 201
    twilio = {"provider": "twilio", "name": "victim", "secret": "victim-twilio-token", "extra": {"account_sid": "AC1"}}
    twilio_cred = (await client.post("/v1/credentials", headers=h, json=twilio)).json()
    number = {
        "number": "+14155550100",
        "carrier": "twilio",
        "credential_id": twilio_cred["id"],
        "inbound_agent_id": agent["id"],
    }
    phone_number = (await client.post("/v1/phone-numbers", headers=h, json=number)).json()
    call = (await client.post("/v1/web-calls", headers=h, json={"agent_id": agent["id"]})).json()["call"]
    members = (await client.get("/v1/members", headers=h)).json()["data"]
    kb = (await client.post("/v1/knowledge-bases", headers=h, json={"name": "Victim kb"})).json()
    files = {"file": ("secret.md", b"# Secret\n\nThe vault code is 4711.\n", "text/markdown")}
    document = (await client.post(f"/v1/knowledge-bases/{kb['id']}/documents", headers=h, files=files)).json()
    hook = (await client.post("/v1/webhooks", headers=h, json={"url": "https://hooks.victim.example/in"})).json()
    delivery = (await client.post(f"/v1/webhooks/{hook['id']}/test", headers=h)).json()
    body = {"name": "Victim campaign", "agent_id": agent["id"], "phone_number_id": phone_number["id"]}
    campaign = (await client.post("/v1/campaigns", headers=h, json=body)).json()
    files = {"file": ("contacts.csv", b"phone,first_name\n+14155550199,Secret\n", "text/csv")}
    assert (await client.post(f"/v1/campaigns/{campaign['id']}/contacts", headers=h, files=files)).status_code == 200
    dnc = (await client.post("/v1/do-not-call", headers=h, json={"number": "+14155550188"})).json()
    return {
        "campaign_id": campaign["id"],
        "entry_id": dnc["id"],
        "_contact_phone": "+14155550199",
        "_dnc_phone": "+14155550188",
        "webhook_id": hook["id"],
        "delivery_id": delivery["id"],
        "member_id": next(m["id"] for m in members if m["role"] == "member"),
        "invitation_id": pending["id"],
        "key_id": key["id"],
        "credential_id": cred["id"],
        "agent_id": agent["id"],
        "call_id": call["id"],
        "number_id": phone_number["id"],
        "twilio_credential_id": twilio_cred["id"],
        "version": "1",
        "kb_id": kb["id"],
        "document_id": document["id"],
        "_org_id": owner.org_id,
        "_user_id": owner.user_id,
        "_agent_name": "Victim",
        "_key": key["key"],
        "_signing_secret": (await client.get("/v1/organization/signing-secret", headers=h)).json()["secret"],
    }


async def test_another_org_sees_none_of_our_resources_on_any_route(client, owner, signup):
    victim = await build_victim_org(client, owner, signup)
    intruder = await signup("Intruder Inc")
    doc = (await client.get("/openapi.json")).json()
    secrets_of_victim = [v for k, v in victim.items() if k != "version"]

    walked = 0
    for path, item in doc["paths"].items():
        if not path.startswith("/v1/") or path in PUBLIC:
            continue
        for method in item:
            walked += 1
            where = f"{method.upper()} {path}"
            params = re.findall(r"{(\w+)}", path)
            missing = [p for p in params if p not in victim]
            assert not missing, f"{where}: give the walk an id for {missing}"
            url = path.format(**{p: victim[p] for p in params})
            needs_body = "requestBody" in item[method] and item[method]["requestBody"].get("required")
            assert not needs_body or where in BODIES, f"{where}: add a valid body to BODIES"
            body = BODIES.get(where)
            if isinstance(body, dict):
                body = {k: v.format(**victim) if isinstance(v, str) else v for k, v in body.items()}
            r = await client.request(method.upper(), url, headers=intruder.headers, json=body)
            # A problem's "instance" echoes the URL the intruder sent; everything else must be clean.
            shown = r.text.replace(f'"instance":"{url}"', "")
            leaked = [s for s in secrets_of_victim if s in shown]
            assert not leaked, f"{where} leaked {leaked}: {r.text[:300]}"
            if params:
                assert r.status_code == 404, f"{where} answered {r.status_code}, not 404: {r.text[:300]}"
            else:
                assert OWN_ORG_ONLY.match(path), f"{where}: an id-less route outside the known org-wide set"
                assert r.status_code < 500, f"{where}: {r.status_code}"
    assert walked >= 25

    # And nothing of ours changed.
    agent = (await client.get(f"/v1/agents/{victim['agent_id']}", headers=owner.headers)).json()
    assert agent["name"] == "Victim" and agent["published_version"] == 1
    key_ok = await client.get("/v1/organization", headers={"Authorization": f"Bearer {victim['_key']}"})
    assert key_ok.status_code == 200 and key_ok.json()["name"] == "Acme"
    members = (await client.get("/v1/members", headers=owner.headers)).json()["data"]
    assert sorted(m["role"] for m in members) == ["member", "owner"]
    report = (await client.get("/v1/audit-logs/verify", headers=owner.headers)).json()
    assert report["valid"] and all(
        row["actor_id"] != intruder.user_id
        for row in (await client.get("/v1/audit-logs?limit=100", headers=owner.headers)).json()["data"]
    )


async def test_an_api_key_of_another_org_sees_none_of_ours_either(client, owner, signup):
    victim = await build_victim_org(client, owner, signup)
    intruder = await signup("Intruder Inc")
    key = (await client.post("/v1/api-keys", headers=intruder.headers, json={"name": "all"})).json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    for url in (
        f"/v1/agents/{victim['agent_id']}",
        f"/v1/agents/{victim['agent_id']}/versions",
        f"/v1/credentials/{victim['credential_id']}",
        f"/v1/api-keys/{victim['key_id']}",
        f"/v1/members/{victim['member_id']}",
        f"/v1/invitations/{victim['invitation_id']}",
        f"/v1/knowledge-bases/{victim['kb_id']}",
        f"/v1/knowledge-bases/{victim['kb_id']}/documents/{victim['document_id']}",
    ):
        r = await client.get(url, headers=headers)
        assert r.status_code == 404, url
    listed = (await client.get("/v1/agents", headers=headers)).json()["data"]
    assert victim["agent_id"] not in str(listed)
    kbs = (await client.get("/v1/knowledge-bases", headers=headers)).json()["data"]
    assert victim["kb_id"] not in str(kbs)
