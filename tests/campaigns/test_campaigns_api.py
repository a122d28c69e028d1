"""The campaign API without a carrier: creating and editing, contact uploads and what they refuse,
the status machine, the do-not-call list, and numbers kept encrypted at rest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from bvrai.campaigns import window
from bvrai.campaigns.contacts_csv import parse
from bvrai.kit.errors import ValidationFailed


async def setup_org(client: Any, headers: dict[str, str]) -> dict[str, str]:
    agent = (await client.post("/v1/agents", headers=headers, json={"name": "A", "system_prompt": "Hi"})).json()
    assert (await client.post(f"/v1/agents/{agent['id']}/publish", headers=headers)).status_code == 201
    cred = {"provider": "twilio", "name": "t", "secret": "twilio-token-000", "extra": {"account_sid": "AC1"}}
    cred_id = (await client.post("/v1/credentials", headers=headers, json=cred)).json()["id"]
    body = {"number": "+14155550100", "carrier": "twilio", "credential_id": cred_id}
    number = (await client.post("/v1/phone-numbers", headers=headers, json=body)).json()
    return {"agent_id": agent["id"], "phone_number_id": number["id"]}


async def create(client: Any, headers: dict[str, str], refs: dict[str, str], **fields: Any) -> dict[str, Any]:
    r = await client.post("/v1/campaigns", headers=headers, json={"name": "Spring", **refs, **fields})
    assert r.status_code == 201, r.text
    return dict(r.json())


def csv_file(data: bytes, name: str = "contacts.csv") -> dict[str, Any]:
    return {"file": (name, data, "text/csv")}


async def test_create_read_update_and_list_campaigns(client, owner):
    h = owner.headers
    refs = await setup_org(client, h)
    created = await create(
        client,
        h,
        refs,
        timezone="America/New_York",
        window={"start": "09:00", "end": "20:00", "days": [4, 0, 1, 2, 3]},
        max_concurrent=3,
        retry={"delay_s": 600, "max_attempts": 3},
    )
    assert created["status"] == "draft" and created["id"].startswith("cmp_")
    assert created["window"] == {"start": "09:00", "end": "20:00", "days": [0, 1, 2, 3, 4]}
    assert created["retry"] == {"delay_s": 600, "max_attempts": 3, "on": ["busy", "no-answer", "failed"]}
    assert created["counts"]["total"] == 0
    patched = await client.patch(f"/v1/campaigns/{created['id']}", headers=h, json={"name": "Summer"})
    assert patched.status_code == 200 and patched.json()["name"] == "Summer"
    listed = (await client.get("/v1/campaigns?status=draft", headers=h)).json()["data"]
    assert [c["id"] for c in listed] == [created["id"]]

    for bad in (
        {"timezone": "Mars/Olympus"},
        {"window": {"start": "20:00", "end": "09:00"}},
        {"window": {"start": "25:00"}},
        {"window": {"days": [7]}},
        {"max_concurrent": 0},
        {"retry": {"max_attempts": 0}},
        {"retry": {"on": ["completed"]}},
    ):
        r = await client.post("/v1/campaigns", headers=h, json={"name": "X", **refs, **bad})
        assert r.status_code == 422, bad
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/v1/campaigns", headers=h, json={"name": "X", **refs, "agent_id": "agt_nope"})
    assert r.status_code == 404


async def test_an_upload_reports_each_rejected_row_by_line(client, owner):
    h = owner.headers
    refs = await setup_org(client, h)
    cid = (await create(client, h, refs))["id"]
    assert (await client.post("/v1/do-not-call", headers=h, json={"number": "+1 415 555 0177"})).status_code == 201
    data = (
        "\ufeffPhone,First Name,timezone,plan\n"
        "+14155550101,Ada,Europe/London,gold\n"
        "+14155550102,Bob,,silver\n"
        "\n"
        "+1415,Short,,\n"
        '+14155550103,"Multi\nline",,\n'
        "+14155550101,Again,,\n"
        "+14155550177,Blocked,,\n"
        "+14155550104,Nowhere,Mars/Olympus,\n"
    ).encode()
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=h, files=csv_file(data))
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["accepted"] == 3
    assert report["rejected"] == [
        {"line": 5, "phone": "+1415", "reason": "invalid_number"},
        {"line": 8, "phone": "+14155550101", "reason": "duplicate"},
        {"line": 9, "phone": "+14155550177", "reason": "do_not_call"},
        {"line": 10, "phone": "+14155550104", "reason": "invalid_timezone"},
    ]
    # A second upload: numbers already in the campaign are duplicates.
    again = await client.post(
        f"/v1/campaigns/{cid}/contacts", headers=h, files=csv_file(b"phone\n+14155550102\n+14155550105\n")
    )
    assert again.json() == {"accepted": 1, "rejected": [{"line": 2, "phone": "+14155550102", "reason": "duplicate"}]}

    contacts = (await client.get(f"/v1/campaigns/{cid}/contacts", headers=h)).json()["data"]
    by_phone = {c["phone"]: c for c in contacts}
    assert set(by_phone) == {"+14155550101", "+14155550102", "+14155550103", "+14155550105"}
    assert by_phone["+14155550101"]["variables"] == {"First_Name": "Ada", "plan": "gold"}
    assert by_phone["+14155550101"]["timezone"] == "Europe/London" and by_phone["+14155550101"]["line"] == 2
    assert by_phone["+14155550103"]["variables"]["First_Name"] == "Multi\nline"
    assert all(c["status"] == "pending" and c["attempts"] == 0 for c in contacts)
    assert (await client.get(f"/v1/campaigns/{cid}", headers=h)).json()["counts"]["pending"] == 4


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"name,email\nAda,a@example.com\n", "no phone column"),
        ("phone,name\n+14155550101,Zo\xeb\n".encode("latin-1"), "not UTF-8"),
        (b'phone,name\n+14155550101,"unterminated\n', "line"),
    ],
)
async def test_a_malformed_upload_is_a_422_problem(client, owner, data, needle):
    h = owner.headers
    refs = await setup_org(client, h)
    cid = (await create(client, h, refs))["id"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=h, files=csv_file(data))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json") and needle in r.json()["detail"]


async def test_uploads_of_the_wrong_kind_or_size_are_refused(app, client, owner):
    h = owner.headers
    refs = await setup_org(client, h)
    cid = (await create(client, h, refs))["id"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=h, json={"phone": "+14155550101"})
    assert r.status_code == 415
    r = await client.post(
        f"/v1/campaigns/{cid}/contacts", headers=h, files={"other": ("x.csv", b"phone\n", "text/csv")}
    )
    assert r.status_code == 422
    app.state.ctx.settings.campaign_max_upload_bytes = 1000
    big = b"phone\n" + b"+14155550101\n" * 200
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=h, files=csv_file(big))
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/v1/campaigns/cmp_nope/contacts", headers=h, files=csv_file(b"phone\n+14155550101\n"))
    assert r.status_code == 404


async def test_start_pause_resume_cancel_follow_the_status_machine(client, owner):
    h = owner.headers
    refs = await setup_org(client, h)
    cid = (await create(client, h, refs))["id"]

    async def act(action: str) -> Any:
        return await client.post(f"/v1/campaigns/{cid}/{action}", headers=h)

    r = await act("start")
    assert r.status_code == 409 and "no contacts" in r.json()["detail"]
    files = csv_file(b"phone\n+14155550101\n+14155550102\n")
    assert (await client.post(f"/v1/campaigns/{cid}/contacts", headers=h, files=files)).status_code == 200
    assert (await act("pause")).status_code == 409
    assert (await act("resume")).status_code == 409
    # No worker runs the dialer in these tests' clock: pausing at once leaves the contacts pending.
    for action, status in (("start", "running"), ("pause", "paused"), ("resume", "running"), ("pause", "paused")):
        r = await act(action)
        assert r.status_code == 200 and r.json()["status"] == status, r.text
    assert (await act("start")).status_code == 409
    assert (await client.delete(f"/v1/campaigns/{cid}", headers=h)).status_code == 204
    assert (await client.get(f"/v1/campaigns/{cid}", headers=h)).status_code == 404

    other = (await create(client, h, refs))["id"]
    assert (await client.post(f"/v1/campaigns/{other}/contacts", headers=h, files=files)).status_code == 200
    canceled = await client.post(f"/v1/campaigns/{other}/cancel", headers=h)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert canceled.json()["counts"]["canceled"] == 2 and canceled.json()["ended_at"]
    assert (await client.post(f"/v1/campaigns/{other}/cancel", headers=h)).status_code == 409
    assert (await client.patch(f"/v1/campaigns/{other}", headers=h, json={"name": "Late"})).status_code == 409
    assert (await client.post(f"/v1/campaigns/{other}/contacts", headers=h, files=files)).status_code == 409
    audit = (await client.get("/v1/audit-logs", headers=h, params={"target_id": other})).json()["data"]
    assert {"campaign.create", "campaign.contacts_upload", "campaign.cancel"} <= {e["action"] for e in audit}


async def test_the_do_not_call_list(client, owner):
    h = owner.headers
    r = await client.post("/v1/do-not-call", headers=h, json={"number": "+1 (415) 555-0123", "reason": "asked"})
    assert r.status_code == 201 and r.json()["number"] == "+14155550123"
    entry = r.json()
    assert (await client.post("/v1/do-not-call", headers=h, json={"number": "+14155550123"})).status_code == 409
    assert (await client.post("/v1/do-not-call", headers=h, json={"number": "555-0123"})).status_code == 422
    await client.post("/v1/do-not-call", headers=h, json={"number": "+14155550124"})
    found = (await client.get("/v1/do-not-call", headers=h, params={"number": "+14155550123"})).json()["data"]
    assert [e["id"] for e in found] == [entry["id"]]
    assert len((await client.get("/v1/do-not-call", headers=h)).json()["data"]) == 2
    assert (await client.delete(f"/v1/do-not-call/{entry['id']}", headers=h)).status_code == 204
    assert (await client.delete(f"/v1/do-not-call/{entry['id']}", headers=h)).status_code == 404


async def test_numbers_are_encrypted_at_rest(app, client, owner):
    h = owner.headers
    refs = await setup_org(client, h)
    cid = (await create(client, h, refs))["id"]
    files = csv_file(b"phone\n+14155550161\n")
    assert (await client.post(f"/v1/campaigns/{cid}/contacts", headers=h, files=files)).status_code == 200
    await client.post("/v1/do-not-call", headers=h, json={"number": "+14155550162"})
    async with app.state.ctx.sessions() as db:
        stored = [
            str(row)
            for table in ("campaign_contacts", "do_not_call")
            for row in (await db.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608 - fixed names
        ]
    assert stored and not any("4155550161" in s or "4155550162" in s for s in stored)


def test_calling_windows_use_the_contacts_wall_clock():
    monday_noon_utc = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    office = {"start": "09:00", "end": "17:00", "days": [0, 1, 2, 3, 4]}
    assert window.is_open(office, "Europe/London", monday_noon_utc)
    assert not window.is_open(office, "America/Los_Angeles", monday_noon_utc)  # 04:00 there
    assert not window.is_open(office, "Asia/Tokyo", monday_noon_utc)  # 21:00 there
    assert not window.is_open(office, "America/New_York", monday_noon_utc)  # 07:00 there
    assert window.is_open(office, "America/New_York", monday_noon_utc.replace(hour=14))  # 09:00 there
    assert not window.is_open({**office, "days": [1]}, "Europe/London", monday_noon_utc)
    sunday_11_utc = datetime(2026, 11, 29, 11, tzinfo=UTC)  # already Monday 01:00 at UTC+14
    assert window.is_open({"start": "00:00", "end": "24:00", "days": [0]}, "Pacific/Kiritimati", sunday_11_utc)
    assert not window.is_open({"start": "00:00", "end": "24:00", "days": [0]}, "UTC", sunday_11_utc)
    assert not window.is_open(office, "Not/AZone", monday_noon_utc)


def test_csv_parsing_refuses_a_file_without_a_phone_column():
    with pytest.raises(ValidationFailed):
        parse(b"name\nAda\n", max_rows=10)
    assert parse(b"phone\n+14155550101\n+14155550102\n", max_rows=1).rejected[0].reason == "too_many_contacts"
