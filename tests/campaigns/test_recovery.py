"""Resolving a dial its worker left open (``dialing`` past its lease), through the carrier's call
list: a call the carrier has is adopted with its outcome; an attempt the carrier never saw is
released to be dialed again, as the same attempt. Recovery itself never dials."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from bvrai.campaigns import dialer
from bvrai.campaigns.models import CampaignAttempt, CampaignContact
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.kit.ids import new_id
from bvrai.telephony.carrier import CarrierAccount
from bvrai.telephony.twilio import TwilioClient
from tests.campaigns.conftest import contacts, csv_of, dials, new_campaign, upload, wait_status
from tests.conftest import make_settings
from tests.telephony.conftest import OUR_NUMBER

LOST = "+14155551001"  # the carrier placed its call; the worker died before writing it down
NEVER = "+14155551002"  # the worker died before asking the carrier


async def open_attempt(ctx: AppContext, contact_id: str) -> tuple[str, str]:
    """An attempt as a dead worker leaves it: dialing, its lease run out, no call record."""
    async with ctx.sessions() as db:
        contact = await db.get(CampaignContact, contact_id)
        assert contact is not None
        contact.status = "dialing"
        attempt = CampaignAttempt(
            id=new_id("catt"),
            org_id=contact.org_id,
            campaign_id=contact.campaign_id,
            contact_id=contact.id,
            number=1,
            call_id=new_id("call"),
            idempotency_key=f"campaign:{contact.id}:1",
            status="dialing",
            lease_until=utcnow() - timedelta(seconds=1),
            created_at=utcnow() - timedelta(seconds=2),
        )
        db.add(attempt)
        await db.commit()
        return attempt.id, attempt.call_id


async def test_lost_dials_are_adopted_or_released_by_asking_the_carrier(phone, database_url: str, tmp_path: Path):
    twilio = phone.twilio
    twilio.ring_s = 0.05
    twilio.callee(LOST, "busy")
    cid = (await new_campaign(phone, retry={"max_attempts": 1}))["id"]
    await upload(phone, cid, csv_of([[LOST, "Lost", ""], [NEVER, "Never", ""]]))
    ids = {c["phone"]: c["id"] for c in await contacts(phone, cid)}
    settings = make_settings(database_url, tmp_path / "recovery", provider_base_urls={"twilio": twilio.url})
    ctx = AppContext.create(settings)
    try:
        lost_attempt, lost_call_id = await open_attempt(ctx, ids[LOST])
        never_attempt, _ = await open_attempt(ctx, ids[NEVER])

        # The dead worker's request, which the carrier carried out (busy); its callbacks went nowhere.
        account = CarrierAccount("twilio", twilio.auth_token, {"account_sid": twilio.account_sid}, twilio.url)
        placed = await TwilioClient(account).place_call(
            from_number=OUR_NUMBER,
            to_number=LOST,
            answer_url=phone.url(f"/telephony/twilio/answer?call_id={lost_call_id}"),
            status_url="http://127.0.0.1:9/unreachable",
            machine_detection=False,
            ring_timeout_s=30,
        )
        await asyncio.wait_for(twilio.calls[placed.carrier_call_id].ended.wait(), 10)

        assert await dialer.recover(ctx, lost_attempt) == "adopted"
        assert await dialer.recover(ctx, never_attempt) == "not-at-carrier"
        assert await dialer.recover(ctx, never_attempt) is None  # resolved: nothing left to take
    finally:
        await ctx.close()

    assert dials(twilio) == [LOST], "recovery dialed"
    listed = [r for r in twilio.requests if r.method == "GET" and r.path.endswith("/Calls.json")]
    assert {r.query["To"] for r in listed} == {LOST, NEVER}
    assert all(r.query["From"] == OUR_NUMBER for r in listed)
    assert any("StartTime>" in r.query for r in listed) and any(r.query.get("Status") == "queued" for r in listed)

    by_phone = {c["phone"]: c for c in await contacts(phone, cid)}
    lost = by_phone[LOST]
    assert lost["status"] == "failed" and lost["last_outcome"] == "busy" and lost["attempts"] == 1
    call = (await phone.http.get(f"/v1/calls/{lost_call_id}")).json()
    assert call["carrier_call_id"] == placed.carrier_call_id and call["status"] == "busy"
    assert call["to_number"] == LOST and call["variables"] == {"first_name": "Lost"}
    never = by_phone[NEVER]
    assert never["status"] == "pending" and never["attempts"] == 0  # dialed again when its turn comes
    counts = (await phone.http.get(f"/v1/campaigns/{cid}")).json()["counts"]
    assert counts["outcomes"] == {"busy": 1} and counts["failed"] == 1 and counts["pending"] == 1


async def test_a_call_whose_end_was_never_reported_is_checked_at_the_carrier(phone):
    """Twilio does not retry status callbacks: a lost final one would hold the contact forever."""
    twilio = phone.twilio
    settings = phone.server.app.state.ctx.settings
    settings.campaign_tick_s, settings.campaign_dial_lease_s = 0.2, 2.0
    twilio.ring_s = 0.05
    twilio.callee(LOST, "busy")
    twilio.lost_final_callbacks.add(LOST)
    cid = (await new_campaign(phone, retry={"max_attempts": 1}))["id"]
    await upload(phone, cid, csv_of([[LOST, "Lost", ""]]))
    assert (await phone.http.post(f"/v1/campaigns/{cid}/start")).status_code == 200
    done = await wait_status(phone, cid, "completed", timeout_s=60)
    assert done["counts"]["failed"] == 1 and done["counts"]["outcomes"] == {"busy": 1}
    [contact] = await contacts(phone, cid)
    call = (await phone.http.get(f"/v1/calls/{contact['last_call_id']}")).json()
    assert call["status"] == "busy" and dials(twilio) == [LOST]
    sid = call["carrier_call_id"]
    assert any(r.method == "GET" and r.path.endswith(f"/Calls/{sid}.json") for r in twilio.requests)
    assert twilio.calls[sid].statuses() == ["queued", "ringing"]  # the busy callback never came
