"""The dialer: a periodic tick in every worker process that, per running campaign, resolves dials a
dead worker left behind, then claims the contacts due now and dials them.

Never two dials for one attempt:

1. Claim (one transaction, under the campaign's row lock, so two workers never claim the same
   contact nor exceed ``max_concurrent`` together): the contact becomes ``dialing`` and an attempt
   row is written with the call id and idempotency key its call will have, and a lease.
2. Commit. Only then the carrier is asked (``telephony.place_outbound_call`` with that call id and
   key); the call record and the attempt's ``placed`` are committed together after it answers.
3. A process that dies between 2's request and its commit leaves the attempt ``dialing``. Once its
   lease has run out, a tick takes it (one worker wins) and asks the carrier whether that call
   exists (Twilio: list the calls to the number since the attempt was written). Found: the call is
   adopted (its record written, at the carrier's status). Not found: the carrier never had it, and
   only then is the attempt dialed again, as the same attempt (same call id and key).

A dialer only sends the request while less than half of its lease has passed, so a stalled process
cannot dial after another has begun to resolve the attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.calls import concurrency
from bvrai.campaigns import service
from bvrai.campaigns.models import CampaignAttempt
from bvrai.campaigns.outcomes import settle
from bvrai.campaigns.repository import CampaignRepository
from bvrai.campaigns.window import DEFAULT_WINDOW, is_open
from bvrai.kit import jobs
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.kit.errors import Conflict, NotFound, ValidationFailed
from bvrai.kit.ids import new_id
from bvrai.telephony import service as telephony
from bvrai.telephony.carrier import CarrierAccount

log = structlog.get_logger(__name__)

RECOVER_PER_TICK = 20


@jobs.periodic("campaigns.dial", every_s=1.0, setting="campaign_tick_s")
async def tick(ctx: AppContext) -> None:
    async with ctx.sessions() as session:
        ids = await CampaignRepository(session).running_ids()
    for campaign_id in ids:
        try:
            await tick_campaign(ctx, campaign_id)
        except Exception:
            log.warning("campaign_tick_failed", campaign_id=campaign_id, exc_info=True)


async def tick_campaign(ctx: AppContext, campaign_id: str) -> None:
    await recover_lost_dials(ctx, campaign_id)
    await check_long_calls(ctx, campaign_id)
    attempt_ids = await claim(ctx, campaign_id)
    if attempt_ids:
        await asyncio.gather(*(dial(ctx, attempt_id) for attempt_id in attempt_ids))


async def claim(ctx: AppContext, campaign_id: str) -> list[str]:
    """Claim the contacts due now, up to the free slots; the attempt ids, committed. Completes the
    campaign when nothing is left to call."""
    now = utcnow()
    lease_s = ctx.settings.campaign_dial_lease_s
    async with ctx.sessions() as session:
        repo = CampaignRepository(session)
        if not await repo.lock_running(campaign_id, now):
            return []
        campaign = await repo.campaign_unscoped(campaign_id)
        assert campaign is not None
        if await repo.open_contacts(campaign_id) == 0:
            await service.complete(session, campaign=campaign)
            await session.commit()
            return []
        free = campaign.max_concurrent - await repo.in_flight(campaign_id)
        org_free = concurrency.limit_for(ctx, campaign.org_id) - await concurrency.active_calls(
            session, ctx=ctx, org_id=campaign.org_id
        )
        limit = min(free, org_free)
        if limit <= 0:
            await session.commit()
            return []
        window = campaign.window or DEFAULT_WINDOW
        zones = await repo.due_zones(campaign_id, now)
        named = [z for z in zones if z is not None and is_open(window, z, now)]
        default_open = None in zones and is_open(window, campaign.timezone, now)
        contacts = await repo.due_contacts(campaign_id, now, zones=named, default_zone_open=default_open, limit=limit)
        blocked = await repo.dnc_hashes(campaign.org_id, [c.phone_hash for c in contacts])
        attempt_ids: list[str] = []
        for contact in contacts:
            if contact.phone_hash in blocked:  # put on the list after the upload
                contact.status, contact.last_outcome, contact.updated_at = "canceled", "do_not_call", now
                continue
            if not await repo.claim_contact(contact.id, now):
                continue
            number = contact.attempts + 1
            attempt = await repo.attempt(contact.id, number)
            if attempt is None:
                attempt = CampaignAttempt(
                    id=new_id("catt"),
                    org_id=campaign.org_id,
                    campaign_id=campaign.id,
                    contact_id=contact.id,
                    number=number,
                    call_id=new_id("call"),
                    idempotency_key=f"campaign:{contact.id}:{number}",
                    status="dialing",
                )
                repo.add(attempt)
            elif attempt.status != "not_placed":
                log.warning("campaign_attempt_exists", attempt_id=attempt.id, status=attempt.status)
                continue
            attempt.status, attempt.lease_until, attempt.updated_at = "dialing", now + timedelta(seconds=lease_s), now
            attempt_ids.append(attempt.id)
        await session.commit()
    return attempt_ids


async def dial(ctx: AppContext, attempt_id: str) -> None:
    """Place one claimed attempt's call, and write down that it was placed."""
    lease_s = ctx.settings.campaign_dial_lease_s
    async with ctx.sessions() as session:
        repo = CampaignRepository(session)
        attempt = await repo.attempt_unscoped(attempt_id)
        if attempt is None or attempt.status != "dialing" or attempt.lease_until is None:
            return
        if attempt.lease_until - utcnow() < timedelta(seconds=lease_s / 2):
            log.warning("campaign_dial_too_late", attempt_id=attempt_id)  # recovery resolves it
            return
        contact = await repo.contact_unscoped(attempt.contact_id)
        campaign = await repo.campaign_unscoped(attempt.campaign_id)
        assert contact is not None and campaign is not None
        try:
            call = await telephony.place_outbound_call(
                session,
                ctx=ctx,
                org_id=campaign.org_id,
                agent_id=campaign.agent_id,
                phone_number_id=campaign.phone_number_id,
                to=service.contact_phone(ctx, contact),
                variables={k: str(v) for k, v in contact.variables.items()},
                idempotency_key=attempt.idempotency_key,
                machine_detection=campaign.machine_detection,
                ring_timeout_s=campaign.ring_timeout_s,
                call_id=attempt.call_id,
            )
        except concurrency.CallLimitReached:
            await session.rollback()
            await _not_placed(ctx, attempt_id, reason="the organization is at its call limit")
            return
        except ValidationFailed as exc:  # the carrier refused the number: it never had the call
            await session.rollback()
            await _refused(ctx, attempt_id, error=str(exc))
            return
        except (Conflict, NotFound) as exc:  # the agent is no longer published, the number is gone
            await session.rollback()
            await _not_placed(ctx, attempt_id, reason=str(exc), pause=True)
            return
        except Exception:
            # The carrier may or may not have the call (a 5xx, a timeout): the attempt stays dialing,
            # and once its lease runs out the carrier is asked before anything is dialed again.
            log.warning("campaign_dial_uncertain", attempt_id=attempt_id, exc_info=True)
            await session.rollback()
            return
        attempt.status, attempt.carrier_call_id, attempt.updated_at = "placed", call.carrier_call_id, utcnow()
        attempt.lease_until = utcnow() + timedelta(seconds=lease_s)  # then its call's status is checked
        if contact.status == "dialing":
            contact.status, contact.last_call_id = "in_progress", call.id
        await session.commit()
    log.info("campaign_dialed", attempt_id=attempt_id, call_id=call.id, carrier_call_id=call.carrier_call_id)


async def _not_placed(ctx: AppContext, attempt_id: str, *, reason: str, pause: bool = False) -> None:
    """The carrier never had this attempt's call: the contact waits for its turn again (same attempt)."""
    async with ctx.sessions() as session:
        repo = CampaignRepository(session)
        attempt = await repo.attempt_unscoped(attempt_id)
        if attempt is None or attempt.status != "dialing":
            return
        contact = await repo.contact_unscoped(attempt.contact_id)
        assert contact is not None
        attempt.status, attempt.error, attempt.lease_until = "not_placed", reason[:2000], None
        if contact.status == "dialing":
            contact.status = "pending"
        if pause:
            await service.pause_for(session, campaign_id=attempt.campaign_id, reason=reason)
        await session.commit()


async def _refused(ctx: AppContext, attempt_id: str, *, error: str) -> None:
    async with ctx.sessions() as session:
        repo = CampaignRepository(session)
        attempt = await repo.attempt_unscoped(attempt_id)
        if attempt is None or attempt.status != "dialing":
            return
        contact = await repo.contact_unscoped(attempt.contact_id)
        campaign = await repo.campaign_unscoped(attempt.campaign_id)
        assert contact is not None and campaign is not None
        attempt.error = error[:2000]
        settle(campaign=campaign, contact=contact, attempt=attempt, outcome="failed", now=utcnow())
        await session.commit()


# --- recovery ------------------------------------------------------------------------------------------------------


async def recover_lost_dials(ctx: AppContext, campaign_id: str) -> None:
    await _each_stale(ctx, campaign_id, status="dialing", resolve=recover, failure="campaign_recover_failed")


async def _each_stale(
    ctx: AppContext,
    campaign_id: str,
    *,
    status: str,
    resolve: Callable[[AppContext, str], Awaitable[object]],
    failure: str,
) -> None:
    """``resolve`` each attempt in ``status`` whose lease ran out (a few a tick); one failing is logged
    and left for the next tick."""
    async with ctx.sessions() as session:
        due = await CampaignRepository(session).stale_attempts(campaign_id, utcnow(), RECOVER_PER_TICK, status=status)
    for attempt_id in due:
        try:
            await resolve(ctx, attempt_id)
        except Exception:
            log.warning(failure, attempt_id=attempt_id, exc_info=True)


async def recover(ctx: AppContext, attempt_id: str) -> str | None:
    """Resolve a dial whose lease ran out: adopt the carrier's call, or release the attempt to be
    dialed again when the carrier never had it. The resolution, or None when another worker has it."""
    now = utcnow()
    lease_s = ctx.settings.campaign_dial_lease_s
    async with ctx.sessions() as session:
        repo = CampaignRepository(session)
        if not await repo.take_stale(attempt_id, now, now + timedelta(seconds=lease_s)):
            return None
        await session.commit()
    async with ctx.sessions() as session:
        repo = CampaignRepository(session)
        attempt = await repo.attempt_unscoped(attempt_id)
        assert attempt is not None
        contact = await repo.contact_unscoped(attempt.contact_id)
        campaign = await repo.campaign_unscoped(attempt.campaign_id)
        assert contact is not None and campaign is not None
        to = service.contact_phone(ctx, contact)
        try:
            placed = await telephony.find_placed_call(
                session,
                ctx=ctx,
                org_id=campaign.org_id,
                phone_number_id=campaign.phone_number_id,
                to=to,
                since=attempt.created_at,
            )
        except telephony.LookupUnsupported:
            # Nothing to ask: rather a missed contact than a second call.
            attempt.recovered = "carrier-cannot-tell"
            settle(campaign=campaign, contact=contact, attempt=attempt, outcome="unknown", now=now)
            await session.commit()
            return "unknown"
        if placed is None:
            attempt.status, attempt.recovered, attempt.lease_until = "not_placed", "not-at-carrier", None
            if contact.status == "dialing":
                contact.status = "pending"
            await session.commit()
            log.info("campaign_dial_not_placed", attempt_id=attempt_id)
            return "not-at-carrier"
        await _adopt(session, ctx=ctx, attempt=attempt, placed=placed, how="adopted")
        await session.commit()
        log.info("campaign_dial_adopted", attempt_id=attempt_id, carrier_call_id=placed.carrier_call_id)
        return "adopted"


async def _adopt(
    session: AsyncSession, *, ctx: AppContext, attempt: CampaignAttempt, placed: telephony.CarrierCall, how: str
) -> None:
    """Write down the call the carrier placed for ``attempt``, which its dialer never recorded."""
    repo = CampaignRepository(session)
    contact = await repo.contact_unscoped(attempt.contact_id)
    campaign = await repo.campaign_unscoped(attempt.campaign_id)
    assert contact is not None and campaign is not None
    attempt.status, attempt.recovered, attempt.carrier_call_id = "placed", how, placed.carrier_call_id
    attempt.lease_until = utcnow() + timedelta(seconds=ctx.settings.campaign_dial_lease_s)
    contact.status, contact.last_call_id = "in_progress", attempt.call_id
    await session.flush()
    await telephony.adopt_outbound_call(
        session,
        ctx=ctx,
        org_id=campaign.org_id,
        call_id=attempt.call_id,
        agent_id=campaign.agent_id,
        phone_number_id=campaign.phone_number_id,
        to=service.contact_phone(ctx, contact),
        variables={k: str(v) for k, v in contact.variables.items()},
        idempotency_key=attempt.idempotency_key,
        placed=placed,
    )


async def lost_dial_account(session: AsyncSession, *, ctx: AppContext, call_id: str) -> CarrierAccount | None:
    """The carrier account of a campaign dial still unconfirmed (``dialing``) whose call id is
    ``call_id``: what a carrier's callback for that call is verified with before it is believed."""
    attempt = await CampaignRepository(session).attempt_by_call(call_id)
    if attempt is None or attempt.status != "dialing":
        return None
    campaign = await CampaignRepository(session).campaign_unscoped(attempt.campaign_id)
    assert campaign is not None
    return await telephony.number_account(
        session, ctx=ctx, org_id=campaign.org_id, phone_number_id=campaign.phone_number_id
    )


async def adopt_reported_call(ctx: AppContext, *, call_id: str, carrier_call_id: str) -> bool:
    """A carrier's (verified) callback names a call of a campaign dial that was never written down
    (its dialer died, or has not committed yet): adopt it now, at ``queued``; the callback itself
    then moves it on. False when there is no such unconfirmed dial (any more)."""
    async with ctx.sessions() as session:
        attempt = await CampaignRepository(session).attempt_by_call(call_id)
        if attempt is None or attempt.status != "dialing":
            return False
        placed = telephony.CarrierCall(carrier_call_id=carrier_call_id, status="queued", duration_s=None)
        try:
            await _adopt(session, ctx=ctx, attempt=attempt, placed=placed, how="adopted-from-callback")
            await session.commit()
        except IntegrityError:  # its dialer (or a recovery) wrote the call meanwhile
            await session.rollback()
            return True
    log.info("campaign_dial_adopted_from_callback", call_id=call_id, carrier_call_id=carrier_call_id)
    return True


# --- calls whose end was not heard ---------------------------------------------------------------------------------


async def check_long_calls(ctx: AppContext, campaign_id: str) -> None:
    """Every lease period, ask the carrier about the campaign's calls still up here: a status callback
    that never arrived (the carrier does not retry them) would otherwise hold a contact, a slot and
    the campaign's completion forever."""
    await _each_stale(ctx, campaign_id, status="placed", resolve=check_call, failure="campaign_call_check_failed")


async def check_call(ctx: AppContext, attempt_id: str) -> str | None:
    """The carrier's status of a placed attempt's call, applied when it has ended; None when another
    worker has the check or the carrier cannot say."""
    now = utcnow()
    lease_s = ctx.settings.campaign_dial_lease_s
    async with ctx.sessions() as session:
        repo = CampaignRepository(session)
        if not await repo.take_stale(attempt_id, now, now + timedelta(seconds=lease_s), status="placed"):
            return None
        await session.commit()
    async with ctx.sessions() as session:
        attempt = await CampaignRepository(session).attempt_unscoped(attempt_id)
        assert attempt is not None
        return await telephony.refresh_call_status(session, ctx=ctx, call_id=attempt.call_id, commit=True)
