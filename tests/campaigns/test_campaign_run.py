"""A campaign of 200 CSV rows against the fake Twilio: 10 rows rejected by line, 190 contacts dialed
five at a time, answered, busy or unanswered, busy and unanswered ones retried once; paused and
resumed; contacts outside their calling window wait until the window includes them."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.campaigns.conftest import (
    campaign,
    contact_number,
    contacts,
    csv_of,
    dials,
    max_overlap,
    new_campaign,
    upload,
    wait_status,
)
from tests.polling import eventually

HOME = "Pacific/Kiritimati"  # UTC+14: always a different weekday than ...
AWAY = "Etc/GMT+12"  # ... UTC-12, 26 hours behind


def build_rows() -> tuple[list[list[str]], dict[int, str], dict[str, str]]:
    """200 rows: 190 good contacts and 10 bad rows; the expected rejections by line; each number's callee."""
    good: list[list[str]] = []
    outcome: dict[str, str] = {}
    for i in range(190):
        number = contact_number(i)
        if i < 10:
            good.append([number, f"Away{i}", AWAY])
            outcome[number] = "answer-hangup"
            continue
        good.append([number, f"Name{i}", ""])
        outcome[number] = {3: "busy", 7: "no-answer"}.get(i % 10, "answer-hangup")
    bad = [
        ["+1415", "Short", ""],
        ["not a number", "Words", ""],
        ["", "Empty", ""],
        ["+999123", "Nowhere", ""],
        ["4155551234", "National", ""],
        ["+14155559998", "Blocked1", ""],  # on the do-not-call list
        ["+14155559999", "Blocked2", ""],
        [contact_number(20), "Again", ""],  # duplicate of an earlier row
        [contact_number(21), "Again", ""],
        ["+14155559997", "Martian", "Mars/Olympus"],
    ]
    reasons = ["invalid_number"] * 5 + ["do_not_call"] * 2 + ["duplicate"] * 2 + ["invalid_timezone"]
    rows: list[list[str]] = []
    expected: dict[int, str] = {}
    for n, row in enumerate(good):
        rows.append(row)
        if n % 19 == 18 and bad:  # one bad row after every 19 good ones
            rows.append(bad.pop(0))
            expected[len(rows) + 1] = reasons.pop(0)  # +1: the header is line 1
    assert len(rows) == 200 and not bad
    return rows, expected, outcome


async def test_a_200_contact_campaign_runs_to_exact_counts(phone, database_url):
    twilio = phone.twilio
    phone.server.app.state.ctx.settings.campaign_tick_s = 0.2
    twilio.ring_s = 0.1
    rows, expected_rejections, outcome = build_rows()
    for number, how in outcome.items():
        twilio.callee(number, how)
    for blocked in ("+14155559998", "+14155559999"):
        assert (await phone.http.post("/v1/do-not-call", json={"number": blocked})).status_code == 201
    today = datetime.now(ZoneInfo(HOME)).weekday()
    created = await new_campaign(
        phone,
        timezone=HOME,
        window={"start": "00:00", "end": "24:00", "days": [today]},
        max_concurrent=5,
        retry={"delay_s": 1, "max_attempts": 2, "on": ["busy", "no-answer"]},
    )
    cid = created["id"]
    hook = {"url": "https://hooks.example.com/campaigns", "events": ["campaign.completed"]}
    hook_id = (await phone.http.post("/v1/webhooks", json=hook)).json()["id"]

    report = await upload(phone, cid, csv_of(rows))
    assert report["accepted"] == 190
    assert {r["line"]: r["reason"] for r in report["rejected"]} == expected_rejections
    assert (await campaign(phone, cid))["counts"]["pending"] == 190
    assert dials(twilio) == [], "a draft campaign dials nobody"

    started = await phone.http.post(f"/v1/campaigns/{cid}/start")
    assert started.status_code == 200 and started.json()["status"] == "running"

    # Pause once a good part is under way: at most the dials already claimed go out.
    await eventually(lambda: _at_least(twilio, 40), timeout_s=120, every_s=0.05)
    paused = await phone.http.post(f"/v1/campaigns/{cid}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    at_pause = len(dials(twilio))
    in_flight = paused.json()["counts"]["dialing"] + paused.json()["counts"]["in_progress"]

    async def drained() -> bool:
        counts = (await campaign(phone, cid))["counts"]
        return counts["dialing"] + counts["in_progress"] == 0

    await eventually(drained, timeout_s=60, every_s=0.1)
    settled = len(dials(twilio))
    assert settled - at_pause <= in_flight <= 5, (at_pause, settled, in_flight)
    await asyncio.sleep(1.0)  # five dialer ticks
    assert len(dials(twilio)) == settled, "a paused campaign dialed"

    assert (await phone.http.post(f"/v1/campaigns/{cid}/resume")).json()["status"] == "running"

    # Everyone in the window is called; the 10 contacts whose day it is not yet wait.
    async def only_away_left() -> dict | None:
        body = await campaign(phone, cid)
        c = body["counts"]
        return body if c["pending"] == 10 and c["dialing"] == 0 and c["in_progress"] == 0 else None

    body = await eventually(only_away_left, timeout_s=240, every_s=0.3)
    assert body["status"] == "running"
    waiting = [c for c in await contacts(phone, cid) if c["status"] == "pending"]
    assert sorted(c["timezone"] for c in waiting) == [AWAY] * 10
    assert all(c["attempts"] == 0 for c in waiting)
    assert not {c["phone"] for c in waiting} & set(dials(twilio))

    every_day = {"window": {"start": "00:00", "end": "24:00", "days": [0, 1, 2, 3, 4, 5, 6]}}
    assert (await phone.http.patch(f"/v1/campaigns/{cid}", json=every_day)).status_code == 200
    done = await wait_status(phone, cid, "completed", timeout_s=120)

    counts = done["counts"]
    assert counts["total"] == 190 and counts["completed"] == 154 and counts["failed"] == 36
    assert counts["pending"] == counts["dialing"] == counts["in_progress"] == counts["canceled"] == 0
    assert counts["outcomes"] == {"completed": 154, "busy": 36, "no-answer": 36}
    assert counts["attempts"] == 226

    # The carrier's own log: answered contacts dialed once, busy and unanswered ones twice.
    per_number = Counter(dials(twilio))
    assert sum(per_number.values()) == 226
    for number, how in outcome.items():
        assert per_number[number] == (1 if how == "answer-hangup" else 2), number
    assert max_overlap(twilio) <= 5

    listed = {c["phone"]: c for c in await contacts(phone, cid)}
    retried = listed[contact_number(13)]
    assert retried["status"] == "failed" and retried["attempts"] == 2 and retried["last_outcome"] == "busy"
    answered = listed[contact_number(11)]
    assert answered["status"] == "completed" and answered["attempts"] == 1
    call = (await phone.http.get(f"/v1/calls/{answered['last_call_id']}")).json()
    assert call["to_number"] == contact_number(11) and call["variables"] == {"first_name": "Name11"}
    assert call["status"] == "completed"

    # campaign.completed, once, with the final counts.
    deliveries = (await phone.http.get(f"/v1/webhooks/{hook_id}/deliveries")).json()["data"]
    assert [d["event_type"] for d in deliveries] == ["campaign.completed"]
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            bodies = (
                await conn.execute(text("SELECT body FROM webhook_messages WHERE type = 'campaign.completed'"))
            ).all()
    finally:
        await engine.dispose()
    assert len(bodies) == 1
    event = bodies[0][0] if isinstance(bodies[0][0], dict) else json.loads(bodies[0][0])
    assert event["data"]["campaign_id"] == cid
    assert event["data"]["counts"] == {"total": 190, "completed": 154, "failed": 36}
    assert event["data"]["outcomes"] == {"completed": 154, "busy": 36, "no-answer": 36}

    audit = (await phone.http.get("/v1/audit-logs", params={"target_id": cid, "limit": 100})).json()["data"]
    assert {"campaign.create", "campaign.contacts_upload", "campaign.start", "campaign.pause", "campaign.resume"} <= {
        e["action"] for e in audit
    }


async def _at_least(twilio, n: int) -> bool:
    return len(dials(twilio)) >= n
