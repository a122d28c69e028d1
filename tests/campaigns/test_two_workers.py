"""With BVRAI_REDIS_URL set, two `bvrai worker` processes share a campaign's dialing: both dial,
and the carrier sees every contact dialed exactly once. Scale-out runs on PostgreSQL, so this test
runs there only."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from pathlib import Path

from tests.campaigns.conftest import (
    api_phone,
    contact_number,
    csv_of,
    dials,
    max_overlap,
    new_campaign,
    upload,
    wait_status,
)
from tests.conftest import make_settings
from tests.fakes.twilio import TwilioFake
from tests.workers import worker

CONTACTS = 80


def dialed_by(log: Path) -> set[str]:
    return set(re.findall(r"campaign_dialed.*?carrier_call_id=(CA[0-9a-f]{32})", log.read_text(errors="replace")))


async def test_two_workers_on_redis_share_a_campaign_without_duplicate_dials(
    pg_database: str, tmp_path: Path, twilio_fake: TwilioFake
) -> None:
    settings = make_settings(
        pg_database,
        tmp_path,
        provider_base_urls={"twilio": twilio_fake.url},
        redis_url="redis://127.0.0.1:6379/0",
        job_queue=f"bvrai-test:{uuid.uuid4().hex}",
        job_poll_s=0.5,
        campaign_tick_s=0.2,
        campaign_dial_lease_s=10.0,
    )
    twilio = twilio_fake
    twilio.ring_s = 0.1
    numbers = [contact_number(i) for i in range(CONTACTS)]
    for i, number in enumerate(numbers):
        twilio.callee(number, "no-answer" if i % 4 == 0 else "answer-hangup")
    async with api_phone(settings, twilio) as phone:
        cid = (await new_campaign(phone, max_concurrent=6, retry={"max_attempts": 1}))["id"]
        rows = [[n, f"N{i}", ""] for i, n in enumerate(numbers)]
        assert (await upload(phone, cid, csv_of(rows)))["accepted"] == CONTACTS
        first_log, second_log = tmp_path / "w1.log", tmp_path / "w2.log"
        with worker(settings, first_log), worker(settings, second_log):
            assert (await phone.http.post(f"/v1/campaigns/{cid}/start")).status_code == 200
            done = await wait_status(phone, cid, "completed", timeout_s=240)

    per_number = Counter(dials(twilio))
    assert set(per_number) == set(numbers)
    assert set(per_number.values()) == {1}, [n for n, k in per_number.items() if k > 1]
    counts = done["counts"]
    assert counts["total"] == CONTACTS and counts["attempts"] == CONTACTS
    assert counts["completed"] == CONTACTS - CONTACTS // 4 and counts["failed"] == CONTACTS // 4
    assert max_overlap(twilio) <= 6
    first, second = dialed_by(first_log), dialed_by(second_log)
    assert first and second, (len(first), len(second))  # both workers dialed
    assert not first & second and len(first | second) == CONTACTS
