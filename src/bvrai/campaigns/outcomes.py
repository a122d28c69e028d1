"""What a finished attempt does to its contact: answered is done; busy, no-answer and failed are
retried after the policy's delay until its attempts are spent, then the contact has failed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.calls.models import Call
from bvrai.campaigns.models import Campaign, CampaignAttempt, CampaignContact
from bvrai.campaigns.repository import CampaignRepository
from bvrai.kit.db import utcnow

ANSWERED = "completed"


def settle(
    *, campaign: Campaign, contact: CampaignContact, attempt: CampaignAttempt, outcome: str, now: datetime
) -> None:
    """Record ``outcome`` (a call's final status) on the attempt and move its contact on."""
    attempt.status, attempt.outcome, attempt.lease_until, attempt.updated_at = "ended", outcome, None, now
    contact.attempts = max(contact.attempts, attempt.number)
    contact.last_outcome = outcome
    contact.last_call_id = attempt.call_id
    contact.updated_at = now
    retry = campaign.retry or {}
    if outcome == ANSWERED:
        contact.status, contact.next_attempt_at = "completed", None
    elif outcome in retry.get("on", ()) and contact.attempts < int(retry.get("max_attempts", 1)):
        if campaign.status == "canceled":
            contact.status = "canceled"
        else:
            contact.status = "pending"
            contact.next_attempt_at = now + timedelta(seconds=int(retry.get("delay_s", 0)))
    else:
        contact.status, contact.next_attempt_at = "failed", None


async def on_call_ended(session: AsyncSession, *, call: Call) -> None:
    """Called by ``calls.lifecycle`` in the transaction that ends the call."""
    repo = CampaignRepository(session)
    attempt = await repo.attempt_by_call(call.id)
    if attempt is None or attempt.status == "ended":
        return
    contact = await repo.contact_unscoped(attempt.contact_id)
    campaign = await repo.campaign_unscoped(attempt.campaign_id)
    assert contact is not None and campaign is not None
    attempt.carrier_call_id = attempt.carrier_call_id or call.carrier_call_id
    settle(campaign=campaign, contact=contact, attempt=attempt, outcome=call.status, now=utcnow())
