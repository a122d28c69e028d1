"""Campaign use cases: create and edit, upload contacts, start/pause/resume/cancel, progress counts,
completion, and the org's do-not-call list. The dialing itself is ``dialer.py``; what a finished call
does to its contact is ``outcomes.py``.

Status: ``draft`` -> ``running`` <-> ``paused`` -> ``completed`` (the dialer, when no contact is left
to call) or ``canceled`` (from any state before completed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.agents import service as agents
from bvrai.audit.service import record
from bvrai.campaigns import contacts_csv
from bvrai.campaigns.models import Campaign, CampaignContact, DoNotCallEntry
from bvrai.campaigns.repository import CampaignRepository
from bvrai.campaigns.schemas import CampaignIn, CampaignPatch, ContactOut, DoNotCallIn, RejectedRow, UploadReport
from bvrai.identity.principal import Principal
from bvrai.kit.context import AppContext
from bvrai.kit.crypto import keyed_hash
from bvrai.kit.db import utcnow
from bvrai.kit.errors import Conflict, ValidationFailed
from bvrai.kit.ids import new_id
from bvrai.kit.pagination import PageParams
from bvrai.kit.phone import to_e164
from bvrai.kit.tenancy import found
from bvrai.telephony import service as telephony
from bvrai.webhooks.service import emit_event

PHONE_PURPOSE = "campaign-phone-number"
FINISHED = ("completed", "canceled")


# --- numbers: encrypted, found by their blind index ----------------------------------------------------------------


def phone_hash(ctx: AppContext, e164: str) -> str:
    return keyed_hash(ctx.secret_key, e164, purpose=PHONE_PURPOSE)


def _contact_context(contact: CampaignContact) -> str:
    return f"campaign-contact|{contact.org_id}|{contact.id}"


def _dnc_context(entry: DoNotCallEntry) -> str:
    return f"do-not-call|{entry.org_id}|{entry.id}"


def contact_phone(ctx: AppContext, contact: CampaignContact) -> str:
    return ctx.keyring.decrypt(contact.phone, context=_contact_context(contact))


def contact_out(ctx: AppContext, contact: CampaignContact) -> ContactOut:
    return ContactOut(
        id=contact.id,
        line=contact.line,
        phone=contact_phone(ctx, contact),
        timezone=contact.timezone,
        variables=contact.variables,
        status=contact.status,
        attempts=contact.attempts,
        next_attempt_at=contact.next_attempt_at,
        last_outcome=contact.last_outcome,
        last_call_id=contact.last_call_id,
    )


# --- campaigns -----------------------------------------------------------------------------------------------------


@dataclass
class Progress:
    counts: dict[str, int]
    outcomes: dict[str, int]


async def progress(session: AsyncSession, *, campaign_ids: list[str]) -> dict[str, Progress]:
    repo = CampaignRepository(session)
    counts = await repo.counts(campaign_ids)
    outcomes = await repo.outcomes(campaign_ids)
    return {c: Progress(counts[c], outcomes[c]) for c in campaign_ids}


async def _check_refs(
    session: AsyncSession, *, principal: Principal, agent_id: str | None, number_id: str | None
) -> None:
    if agent_id is not None:
        await agents.get_agent(session, principal=principal, agent_id=agent_id)
    if number_id is not None:
        await telephony.get_number(session, principal=principal, number_id=number_id)


async def create_campaign(session: AsyncSession, *, principal: Principal, data: CampaignIn) -> Campaign:
    await _check_refs(session, principal=principal, agent_id=data.agent_id, number_id=data.phone_number_id)
    campaign = Campaign(
        id=new_id("cmp"),
        org_id=principal.org_id,
        name=data.name,
        agent_id=data.agent_id,
        phone_number_id=data.phone_number_id,
        status="draft",
        timezone=data.timezone,
        window=data.window.model_dump(),
        max_concurrent=data.max_concurrent,
        retry=data.retry.model_dump(),
        machine_detection=data.machine_detection,
        ring_timeout_s=data.ring_timeout_s,
    )
    repo = CampaignRepository(session)
    repo.add(campaign)
    await repo.flush()
    await record(
        session,
        actor=principal.actor,
        action="campaign.create",
        target_type="campaign",
        target_id=campaign.id,
        changes={"name": campaign.name, "agent_id": campaign.agent_id, "phone_number_id": campaign.phone_number_id},
    )
    return campaign


async def list_campaigns(
    session: AsyncSession, *, principal: Principal, params: PageParams, status: str | None
) -> tuple[list[Campaign], str | None]:
    return await CampaignRepository(session).campaigns(principal.org_id, params, status)


async def get_campaign(session: AsyncSession, *, principal: Principal, campaign_id: str) -> Campaign:
    return found(await CampaignRepository(session).campaign(principal.org_id, campaign_id), "campaign")


async def update_campaign(
    session: AsyncSession, *, principal: Principal, campaign_id: str, data: CampaignPatch
) -> Campaign:
    campaign = await get_campaign(session, principal=principal, campaign_id=campaign_id)
    if campaign.status in FINISHED:
        raise Conflict(f"the campaign is {campaign.status}; it can no longer change")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    await _check_refs(
        session, principal=principal, agent_id=changes.get("agent_id"), number_id=changes.get("phone_number_id")
    )
    for key, value in changes.items():
        setattr(campaign, key, value)
    campaign.updated_at = utcnow()
    await record(
        session,
        actor=principal.actor,
        action="campaign.update",
        target_type="campaign",
        target_id=campaign.id,
        changes=changes,
    )
    return campaign


async def delete_campaign(session: AsyncSession, *, principal: Principal, campaign_id: str) -> None:
    campaign = await get_campaign(session, principal=principal, campaign_id=campaign_id)
    if campaign.status == "running":
        raise Conflict("the campaign is running; pause or cancel it first")
    campaign.deleted_at = utcnow()
    if campaign.status not in FINISHED:
        campaign.status, campaign.ended_at = "canceled", utcnow()
        await CampaignRepository(session).cancel_pending(campaign.id, utcnow())
    await record(
        session, actor=principal.actor, action="campaign.delete", target_type="campaign", target_id=campaign.id
    )


async def _transition(
    session: AsyncSession,
    *,
    principal: Principal,
    campaign_id: str,
    action: str,
    from_: tuple[str, ...],
    to: str,
) -> Campaign:
    campaign = await get_campaign(session, principal=principal, campaign_id=campaign_id)
    if campaign.status not in from_:
        raise Conflict(f"a {campaign.status} campaign cannot be {action}d")
    now = utcnow()
    values: dict[str, Any] = {"status": to, "updated_at": now}
    if to == "running":
        values["paused_reason"] = None
        if campaign.started_at is None:
            values["started_at"] = now
    if to == "canceled":
        values["ended_at"] = now
    repo = CampaignRepository(session)
    # Conditional on the status read above: a dialer tick that completes the campaign meanwhile wins.
    if not await repo.transition(campaign.id, from_=(campaign.status,), values=values):
        raise Conflict("the campaign changed meanwhile; read it again")
    if to == "canceled":
        await repo.cancel_pending(campaign.id, now)
    await session.refresh(campaign)
    await record(
        session, actor=principal.actor, action=f"campaign.{action}", target_type="campaign", target_id=campaign.id
    )
    return campaign


async def start_campaign(session: AsyncSession, *, principal: Principal, campaign_id: str) -> Campaign:
    """Start dialing: the agent must be published and the campaign must have contacts."""
    campaign = await get_campaign(session, principal=principal, campaign_id=campaign_id)
    if campaign.status == "draft":
        await agents.get_published_version(session, principal=principal, agent_id=campaign.agent_id)
        await telephony.get_number(session, principal=principal, number_id=campaign.phone_number_id)
        if not (await CampaignRepository(session).counts([campaign.id]))[campaign.id]:
            raise Conflict("the campaign has no contacts; upload a CSV first")
    return await _transition(
        session, principal=principal, campaign_id=campaign_id, action="start", from_=("draft",), to="running"
    )


async def pause_campaign(session: AsyncSession, *, principal: Principal, campaign_id: str) -> Campaign:
    """No new dials from the next dialer tick on; calls in progress finish."""
    return await _transition(
        session, principal=principal, campaign_id=campaign_id, action="pause", from_=("running",), to="paused"
    )


async def resume_campaign(session: AsyncSession, *, principal: Principal, campaign_id: str) -> Campaign:
    campaign = await get_campaign(session, principal=principal, campaign_id=campaign_id)
    if campaign.status == "paused":
        await agents.get_published_version(session, principal=principal, agent_id=campaign.agent_id)
        await telephony.get_number(session, principal=principal, number_id=campaign.phone_number_id)
    return await _transition(
        session, principal=principal, campaign_id=campaign_id, action="resume", from_=("paused",), to="running"
    )


async def cancel_campaign(session: AsyncSession, *, principal: Principal, campaign_id: str) -> Campaign:
    """Stop for good: contacts not yet called are canceled; calls in progress finish."""
    return await _transition(
        session,
        principal=principal,
        campaign_id=campaign_id,
        action="cancel",
        from_=("draft", "running", "paused"),
        to="canceled",
    )


async def complete(session: AsyncSession, *, campaign: Campaign) -> None:
    """The dialer found nothing left to call: completed, and the ``campaign.completed`` event (with
    the final counts) in the same transaction."""
    now = utcnow()
    repo = CampaignRepository(session)
    if not await repo.transition(campaign.id, from_=("running",), values={"status": "completed", "ended_at": now}):
        return
    done = (await progress(session, campaign_ids=[campaign.id]))[campaign.id]
    counts = {"total": sum(done.counts.values()), **done.counts}
    data = {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "status": "completed",
        "counts": counts,
        "outcomes": done.outcomes,
    }
    await emit_event(session, org_id=campaign.org_id, type="campaign.completed", data=data, occurred_at=now)


async def pause_for(session: AsyncSession, *, campaign_id: str, reason: str) -> None:
    """The dialer cannot go on (the agent was unpublished, the number removed): pause with the reason."""
    await CampaignRepository(session).transition(
        campaign_id, from_=("running",), values={"status": "paused", "paused_reason": reason[:300]}
    )


# --- contacts ------------------------------------------------------------------------------------------------------


async def upload_contacts(
    session: AsyncSession, *, ctx: AppContext, principal: Principal, campaign_id: str, data: bytes
) -> UploadReport:
    """Add a CSV's contacts; the report names every rejected row, by line, and why."""
    campaign = await get_campaign(session, principal=principal, campaign_id=campaign_id)
    if campaign.status in FINISHED:
        raise Conflict(f"the campaign is {campaign.status}; it takes no more contacts")
    repo = CampaignRepository(session)
    existing = sum((await repo.counts([campaign.id]))[campaign.id].values())
    room = ctx.settings.campaign_max_contacts - existing
    parsed = contacts_csv.parse(data, max_rows=max(room, 0))
    hashes = {row.phone: phone_hash(ctx, row.phone) for row in parsed.rows}
    already = await repo.existing_hashes(campaign.id, list(hashes.values()))
    blocked = await repo.dnc_hashes(principal.org_id, list(hashes.values()))
    rejected = [RejectedRow(line=r.line, phone=r.phone, reason=r.reason) for r in parsed.rejected]
    accepted = 0
    for row in parsed.rows:
        digest = hashes[row.phone]
        if digest in blocked:
            rejected.append(RejectedRow(line=row.line, phone=row.phone, reason="do_not_call"))
            continue
        if digest in already:
            rejected.append(RejectedRow(line=row.line, phone=row.phone, reason="duplicate"))
            continue
        contact = CampaignContact(
            id=new_id("cnt"),
            org_id=campaign.org_id,
            campaign_id=campaign.id,
            line=row.line,
            phone_hash=digest,
            timezone=row.timezone,
            variables=row.variables,
            status="canceled" if campaign.status == "canceled" else "pending",
            attempts=0,
        )
        contact.phone = ctx.keyring.encrypt(row.phone, context=_contact_context(contact))
        repo.add(contact)
        accepted += 1
    await repo.flush()
    rejected.sort(key=lambda r: r.line)
    await record(
        session,
        actor=principal.actor,
        action="campaign.contacts_upload",
        target_type="campaign",
        target_id=campaign.id,
        changes={"accepted": accepted, "rejected": len(rejected)},
    )
    return UploadReport(accepted=accepted, rejected=rejected)


async def list_contacts(
    session: AsyncSession, *, principal: Principal, campaign_id: str, params: PageParams, status: str | None
) -> tuple[list[CampaignContact], str | None]:
    await get_campaign(session, principal=principal, campaign_id=campaign_id)
    return await CampaignRepository(session).contacts(principal.org_id, campaign_id, params, status)


# --- do-not-call ---------------------------------------------------------------------------------------------------


def _e164(number: str) -> str:
    try:
        return to_e164(number)
    except ValueError as exc:
        raise ValidationFailed(
            str(exc), errors=[{"loc": ["body", "number"], "msg": str(exc), "type": "value_error"}]
        ) from exc


def dnc_number(ctx: AppContext, entry: DoNotCallEntry) -> str:
    return ctx.keyring.decrypt(entry.phone, context=_dnc_context(entry))


async def add_do_not_call(
    session: AsyncSession, *, ctx: AppContext, principal: Principal, data: DoNotCallIn
) -> DoNotCallEntry:
    """Never call this number from a campaign again (its pending contacts are skipped at dial time)."""
    number = _e164(data.number)
    digest = phone_hash(ctx, number)
    repo = CampaignRepository(session)
    if await repo.dnc_by_hash(principal.org_id, digest) is not None:
        raise Conflict("the number is already on the do-not-call list")
    entry = DoNotCallEntry(id=new_id("dnc"), org_id=principal.org_id, phone_hash=digest, reason=data.reason)
    entry.phone = ctx.keyring.encrypt(number, context=_dnc_context(entry))
    repo.add(entry)
    await repo.flush()
    await record(
        session, actor=principal.actor, action="do_not_call.add", target_type="do_not_call", target_id=entry.id
    )
    return entry


async def list_do_not_call(
    session: AsyncSession, *, ctx: AppContext, principal: Principal, params: PageParams, number: str | None
) -> tuple[list[DoNotCallEntry], str | None]:
    digest = phone_hash(ctx, _e164(number)) if number else None
    return await CampaignRepository(session).dnc_entries(principal.org_id, params, digest)


async def remove_do_not_call(session: AsyncSession, *, principal: Principal, entry_id: str) -> None:
    repo = CampaignRepository(session)
    entry = found(await repo.dnc_entry(principal.org_id, entry_id), "do-not-call entry")
    await repo.delete_dnc(entry)
    await record(
        session, actor=principal.actor, action="do_not_call.remove", target_type="do_not_call", target_id=entry.id
    )
