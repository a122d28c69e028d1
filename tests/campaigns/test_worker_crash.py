"""The worker dialing a campaign and delivering its webhooks is killed (SIGKILL) while the carrier
holds calls it placed but has not yet answered for, and while deliveries are unfinished; a new
worker finishes the campaign without dialing any attempt twice (the calls the dead worker placed are
adopted: their callbacks name our call id, and the carrier's call list is asked about every dial
left open) and delivers every event at least once."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.campaigns.conftest import api_phone, campaign, contact_number, csv_of, dials, new_campaign, upload
from tests.conftest import make_settings
from tests.fakes.twilio import TwilioFake
from tests.polling import eventually
from tests.webhooks.receiver import Receiver
from tests.workers import worker

CONTACTS = 30


async def test_killing_the_dialing_worker_dials_no_attempt_twice(
    database_url: str, tmp_path: Path, twilio_fake: TwilioFake
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        provider_base_urls={"twilio": twilio_fake.url},
        job_poll_s=0.2,
        campaign_tick_s=0.2,
        campaign_dial_lease_s=4.0,
        job_lease_s=3.0,
        ssrf_allow="127.0.0.1",
    )
    twilio = twilio_fake
    twilio.ring_s = 0.1
    twilio.respond_delay_s = 1.5  # placed at once, answered for 1.5 s later: the window a crash hits
    numbers = [contact_number(i) for i in range(CONTACTS)]
    for i, number in enumerate(numbers):
        twilio.callee(number, "busy" if i % 3 == 0 else "answer-hangup")
    async with api_phone(settings, twilio) as phone, Receiver(delay_s=1.0) as receiver:
        hook = (await phone.http.post("/v1/webhooks", json={"url": receiver.url})).json()
        receiver.secret = hook["secret"]
        cid = (await new_campaign(phone, max_concurrent=5, retry={"max_attempts": 1}))["id"]
        assert (await upload(phone, cid, csv_of([[n, f"N{i}", ""] for i, n in enumerate(numbers)])))["accepted"] == 30
        assert (await phone.http.post(f"/v1/campaigns/{cid}/start")).status_code == 200

        with worker(settings, tmp_path / "worker-1.log") as first:

            async def placed_unanswered() -> bool:
                return len(dials(twilio)) >= 6 and twilio.responding > 0 and receiver.in_flight > 0

            await eventually(placed_unanswered, timeout_s=90, every_s=0.01)
            first.send_signal(signal.SIGKILL)
            first.wait()
        orphans = twilio.responding
        dialed_before = len(dials(twilio))
        assert orphans > 0
        r = await phone.http.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=100")
        assert [d for d in r.json()["data"] if d["status"] != "succeeded"], "no delivery was unfinished at the kill"
        twilio.respond_delay_s = 0.0

        with worker(settings, tmp_path / "worker-2.log"):

            async def completed() -> dict | None:
                body = await campaign(phone, cid)
                return body if body["status"] == "completed" else None

            done = await eventually(completed, timeout_s=180, every_s=0.3)

            async def all_delivered() -> list[dict]:
                r = await phone.http.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=100")
                rows = r.json()["data"]
                finished = all(d["status"] == "succeeded" for d in rows)
                return rows if finished and any(d["event_type"] == "campaign.completed" for d in rows) else []

            deliveries = await eventually(all_delivered, timeout_s=120, every_s=0.3)

    # Every event (each call's, and the campaign's end) reached the receiver at least once, verified.
    assert {r.headers["webhook-id"] for r in receiver.requests} == {d["message_id"] for d in deliveries}
    assert all(r.verified for r in receiver.requests)

    # The carrier's request log: every contact dialed exactly once (one attempt each).
    per_number = Counter(dials(twilio))
    assert set(per_number) == set(numbers)
    assert set(per_number.values()) == {1}, [n for n, k in per_number.items() if k > 1]
    counts = done["counts"]
    assert counts["total"] == 30 and counts["completed"] + counts["failed"] == 30 and counts["attempts"] == 30

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            recovered = Counter(
                row[0]
                for row in (await conn.execute(text("SELECT recovered FROM campaign_attempts"))).all()
                if row[0] is not None
            )
            known = {row[0] for row in (await conn.execute(text("SELECT carrier_call_id FROM calls"))).all()}
    finally:
        await engine.dispose()
    # The calls the dead worker never wrote down were adopted, not redialed: found through the
    # carrier's callbacks (they name our call id) or its call list (tests/campaigns/test_recovery.py).
    assert recovered["adopted"] + recovered["adopted-from-callback"] >= 1, (recovered, orphans, dialed_before)
    assert known == {c.sid for c in twilio.calls.values() if c.direction == "outbound"}
