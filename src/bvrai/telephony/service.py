"""Phone numbers, and the phone calls that run on them: inbound answer, outbound placement, carrier
status, and call control (hang up, transfer) through the carrier's REST API.

``place_outbound_call`` is the entry point for anything that dials (the API, the campaign dialer).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.agents import service as agents
from bvrai.audit.service import Actor, record
from bvrai.calls import concurrency, lifecycle, media_tokens
from bvrai.calls.models import Call
from bvrai.calls.phones import read_numbers, set_numbers
from bvrai.calls.repository import CallRepository
from bvrai.identity import credential_service
from bvrai.identity.principal import Principal
from bvrai.kit.context import AppContext
from bvrai.kit.db import utcnow
from bvrai.kit.errors import Conflict, Problem, ValidationFailed
from bvrai.kit.ids import new_id
from bvrai.kit.pagination import PageParams
from bvrai.kit.phone import to_e164
from bvrai.kit.tenancy import found
from bvrai.telephony.carrier import CarrierAccount, CarrierError, client_for
from bvrai.telephony.models import PhoneNumber
from bvrai.telephony.repository import PhoneNumberRepository

log = structlog.get_logger(__name__)

DEFAULT_RING_TIMEOUT_S = 30


class CarrierFailed(Problem):
    status, slug, title = 502, "carrier-error", "The carrier failed the request"


def system(org_id: str) -> Principal:
    """The platform acting for an org on the carrier's behalf (webhooks, the media plane)."""
    return Principal(org_id=org_id, role="system", permissions=frozenset())


def public_url(ctx: AppContext, path: str) -> str:
    return ctx.settings.public_base_url.rstrip("/") + path


def media_url(ctx: AppContext, carrier: str) -> str:
    base = ctx.settings.public_base_url.rstrip("/")
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + f"/telephony/{carrier}/media"


def voice_url(ctx: AppContext, carrier: str) -> str:
    return public_url(ctx, f"/telephony/{carrier}/voice")


def status_url(ctx: AppContext, carrier: str, call_id: str | None = None) -> str:
    return public_url(ctx, f"/telephony/{carrier}/status" + (f"?call_id={call_id}" if call_id else ""))


def _carrier_problem(exc: CarrierError) -> Problem:
    if 400 <= exc.status < 500 and exc.status not in (401, 403):
        return ValidationFailed(f"the carrier refused: {exc}")
    return CarrierFailed(str(exc))


# --- phone numbers ---------------------------------------------------------------------------------------------------


async def account(session: AsyncSession, *, ctx: AppContext, org_id: str, credential_id: str) -> CarrierAccount:
    cred = await credential_service.get_credential(session, principal=system(org_id), credential_id=credential_id)
    secret = await credential_service.reveal_by_id(session, keyring=ctx.keyring, org_id=org_id, credential_id=cred.id)
    assert secret is not None
    return CarrierAccount(
        carrier=cred.provider,
        secret=secret,
        extra=dict(cred.extra or {}),
        base_url=ctx.settings.provider_base_urls.get(cred.provider),
    )


async def account_of(session: AsyncSession, *, ctx: AppContext, number: PhoneNumber) -> CarrierAccount:
    return await account(session, ctx=ctx, org_id=number.org_id, credential_id=number.credential_id)


async def number_account(
    session: AsyncSession, *, ctx: AppContext, org_id: str, phone_number_id: str
) -> CarrierAccount | None:
    """The carrier account behind one of the org's numbers; None when the number is gone."""
    number = await PhoneNumberRepository(session).number(org_id, phone_number_id)
    return await account_of(session, ctx=ctx, number=number) if number is not None else None


async def _check_refs(
    session: AsyncSession, *, principal: Principal, carrier: str, credential_id: str | None, agent_id: str | None
) -> None:
    if credential_id is not None:
        cred = await credential_service.get_credential(session, principal=principal, credential_id=credential_id)
        if cred.provider != carrier:
            raise ValidationFailed(f"credential {cred.id} is for {cred.provider}, not {carrier}")
    if agent_id is not None:
        await agents.get_agent(session, principal=principal, agent_id=agent_id)


async def create_number(
    session: AsyncSession, *, ctx: AppContext, principal: Principal, data: dict[str, Any]
) -> PhoneNumber:
    carrier, number = data["carrier"], data["number"]
    await _check_refs(
        session,
        principal=principal,
        carrier=carrier,
        credential_id=data["credential_id"],
        agent_id=data.get("inbound_agent_id"),
    )
    repo = PhoneNumberRepository(session)
    if await repo.by_number(carrier, number) is not None:
        raise Conflict(f"{number} is already connected to BVRAI on {carrier}")
    carrier_number_id = None
    if data.get("buy"):
        if carrier != "twilio":
            raise ValidationFailed("buying numbers is available for Twilio; import numbers of other carriers")
        from bvrai.telephony.twilio import TwilioClient

        acct = await account(session, ctx=ctx, org_id=principal.org_id, credential_id=data["credential_id"])
        try:
            bought = await TwilioClient(acct).buy_number(
                number=number, voice_url=voice_url(ctx, carrier), status_url=status_url(ctx, carrier)
            )
        except CarrierError as exc:
            raise _carrier_problem(exc) from exc
        carrier_number_id = str(bought.get("sid") or "") or None
    row = PhoneNumber(
        id=new_id("pn"),
        org_id=principal.org_id,
        number=number,
        carrier=carrier,
        credential_id=data["credential_id"],
        carrier_number_id=carrier_number_id,
        name=data.get("name"),
        inbound_agent_id=data.get("inbound_agent_id"),
    )
    repo.add(row)
    await repo.flush()
    await record(
        session,
        actor=principal.actor,
        action="phone_number.buy" if data.get("buy") else "phone_number.import",
        target_type="phone_number",
        target_id=row.id,
        changes={"number": number, "carrier": carrier, "inbound_agent_id": row.inbound_agent_id},
    )
    return row


async def list_numbers(
    session: AsyncSession, *, principal: Principal, params: PageParams
) -> tuple[list[PhoneNumber], str | None]:
    return await PhoneNumberRepository(session).numbers(principal.org_id, params)


async def get_number(session: AsyncSession, *, principal: Principal, number_id: str) -> PhoneNumber:
    return found(await PhoneNumberRepository(session).number(principal.org_id, number_id), "phone number")


async def update_number(
    session: AsyncSession, *, principal: Principal, number_id: str, changes: dict[str, Any]
) -> PhoneNumber:
    row = await get_number(session, principal=principal, number_id=number_id)
    if changes.get("inbound_agent_id") is not None:
        await _check_refs(
            session, principal=principal, carrier=row.carrier, credential_id=None, agent_id=changes["inbound_agent_id"]
        )
    for key in ("name", "inbound_agent_id"):
        if key in changes:
            setattr(row, key, changes[key])
    row.updated_at = utcnow()
    await record(
        session,
        actor=principal.actor,
        action="phone_number.update",
        target_type="phone_number",
        target_id=row.id,
        changes=changes,
    )
    return row


async def delete_number(session: AsyncSession, *, principal: Principal, number_id: str) -> None:
    row = await get_number(session, principal=principal, number_id=number_id)
    row.deleted_at = utcnow()
    await record(
        session, actor=principal.actor, action="phone_number.delete", target_type="phone_number", target_id=row.id
    )


async def available_numbers(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    credential_id: str,
    country: str,
    area_code: str | None,
    contains: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Numbers the Twilio account could buy."""
    await _check_refs(session, principal=principal, carrier="twilio", credential_id=credential_id, agent_id=None)
    from bvrai.telephony.twilio import TwilioClient

    acct = await account(session, ctx=ctx, org_id=principal.org_id, credential_id=credential_id)
    try:
        return await TwilioClient(acct).available_numbers(
            country=country, area_code=area_code, contains=contains, limit=limit
        )
    except CarrierError as exc:
        raise _carrier_problem(exc) from exc


# --- calls -----------------------------------------------------------------------------------------------------------


async def start_inbound_call(
    session: AsyncSession,
    *,
    ctx: AppContext,
    number: PhoneNumber,
    carrier_call_id: str,
    from_number: str,
    status: str = "ringing",
) -> tuple[Call, media_tokens.MediaToken] | None:
    """A carrier offers a call to one of our numbers: its record and the media token for the stream.

    None when nobody answers there (no inbound agent, or one never published): the carrier is told to
    reject the call. Raises ``CallLimitReached`` when the org is at its limit."""
    if number.inbound_agent_id is None:
        return None
    principal = system(number.org_id)
    try:
        version = await agents.get_published_version(session, principal=principal, agent_id=number.inbound_agent_id)
    except Problem:
        return None
    repo = CallRepository(session)
    existing = await repo.by_carrier_call(number.carrier, carrier_call_id)
    if existing is not None:
        # The carrier retried its webhook: the same call, with a fresh token if it never attached.
        if existing.media_attached_at is not None:
            return None
        token = media_tokens.issue(secret=ctx.secret_key, call_id=existing.id)
        existing.media_token_id = token.token_id
        return existing, token
    call = Call(
        id=new_id("call"),
        org_id=number.org_id,
        agent_id=version.agent_id,
        agent_version=version.version,
        direction="inbound",
        status=status if status in ("queued", "ringing") else "ringing",
        variables={},
        phone_number_id=number.id,
        carrier=number.carrier,
        carrier_call_id=carrier_call_id,
    )
    set_numbers(ctx, call, from_number=from_number, to_number=number.number)
    await concurrency.check_and_take(session, ctx=ctx, org_id=number.org_id, call_id=call.id)
    token = media_tokens.issue(secret=ctx.secret_key, call_id=call.id)
    call.media_token_id = token.token_id
    repo.add(call)
    await repo.flush()
    await lifecycle.add_event(session, call=call, type="call.status", data={"status": call.status})
    return call, token


async def place_outbound_call(
    session: AsyncSession,
    *,
    ctx: AppContext,
    org_id: str,
    agent_id: str,
    phone_number_id: str,
    to: str,
    variables: dict[str, str] | None = None,
    idempotency_key: str | None = None,
    machine_detection: bool = False,
    ring_timeout_s: int = DEFAULT_RING_TIMEOUT_S,
    actor: Actor | None = None,
    call_id: str | None = None,
) -> Call:
    """Dial ``to`` from one of the org's numbers; the agent's published version talks when answered.

    - ``session``: the caller's transaction; the call row is added to it (commit it promptly: the
      carrier's callbacks look the call up by id).
    - ``org_id``: whose agent, number and concurrency slot; ``agent_id`` must be published,
      ``phone_number_id`` must be the org's.
    - ``to``: the callee, any format ``phonenumbers`` reads as international (stored encrypted).
    - ``variables``: fill the agent's ``{{variables}}`` for this call.
    - ``idempotency_key``: a second call with the same key returns the first call, dialing nothing.
    - ``machine_detection``: ask the carrier to detect answering machines (``answered_by``).
    - ``actor``: who to name in the audit log (a user, an API key; None: the platform itself).
    - ``call_id``: the id the call will have, chosen and recorded by the caller before dialing (the
      campaign dialer: the carrier's callbacks then name a call it knows even if the dialing process
      dies before this transaction commits).

    Returns the call, status ``queued``, ``carrier_call_id`` set. Raises ``NotFound`` (agent, number),
    ``Conflict`` (agent never published), ``ValidationFailed`` (bad ``to``, or the carrier refused
    it), ``CallLimitReached`` (429: the org is at ``concurrency.limit_for``), ``CarrierFailed`` (502).
    """
    repo = CallRepository(session)
    if idempotency_key:
        earlier = await repo.by_idempotency_key(org_id, idempotency_key)
        if earlier is not None:
            return earlier
    try:
        callee = to_e164(to)
    except ValueError as exc:
        raise ValidationFailed(str(exc), errors=[{"loc": ["to"], "msg": str(exc), "type": "value_error"}]) from exc
    principal = system(org_id)
    version = await agents.get_published_version(session, principal=principal, agent_id=agent_id)
    number = await get_number(session, principal=principal, number_id=phone_number_id)
    acct = await account_of(session, ctx=ctx, number=number)
    call = Call(
        id=call_id or new_id("call"),
        org_id=org_id,
        agent_id=version.agent_id,
        agent_version=version.version,
        direction="outbound",
        status="queued",
        variables=dict(variables or {}),
        phone_number_id=number.id,
        carrier=number.carrier,
        idempotency_key=idempotency_key,
    )
    set_numbers(ctx, call, from_number=number.number, to_number=callee)
    await concurrency.check_and_take(session, ctx=ctx, org_id=org_id, call_id=call.id)
    try:
        placed = await client_for(acct).place_call(
            from_number=number.number,
            to_number=callee,
            answer_url=public_url(ctx, f"/telephony/{number.carrier}/answer?call_id={call.id}"),
            status_url=status_url(ctx, number.carrier, call.id),
            machine_detection=machine_detection,
            ring_timeout_s=ring_timeout_s,
        )
    except CarrierError as exc:
        await concurrency.release(ctx, org_id=org_id, call_id=call.id)
        raise _carrier_problem(exc) from exc
    call.carrier_call_id = placed.carrier_call_id
    repo.add(call)
    await repo.flush()
    await lifecycle.add_event(session, call=call, type="call.status", data={"status": "queued"})
    await record(
        session,
        actor=actor or Actor(org_id=org_id, actor_type="system", actor_id=None),
        action="call.create",
        target_type="call",
        target_id=call.id,
        changes={"direction": "outbound", "agent_id": call.agent_id, "phone_number_id": number.id},
    )
    return call


class LookupUnsupported(Exception):
    """The carrier offers no way to list the calls placed on an account."""


@dataclass(frozen=True)
class CarrierCall:
    carrier_call_id: str
    status: str
    duration_s: float | None


async def find_placed_call(
    session: AsyncSession,
    *,
    ctx: AppContext,
    org_id: str,
    phone_number_id: str,
    to: str,
    since: datetime,
) -> CarrierCall | None:
    """The carrier's call from the org's number to ``to`` created at ``since`` or later that no call
    record here knows: how a dial whose process died before writing it down is found again. None when
    the carrier has no such call (it never got the request). Raises ``LookupUnsupported`` (carriers
    other than Twilio) and ``CarrierError``."""
    number = await get_number(session, principal=system(org_id), number_id=phone_number_id)
    if number.carrier != "twilio":
        raise LookupUnsupported(number.carrier)
    from bvrai.telephony.twilio import TwilioClient

    client = TwilioClient(await account_of(session, ctx=ctx, number=number))
    day = (since - timedelta(days=1)).astimezone(UTC).date().isoformat()  # any clock skew across midnight
    listed = await client.list_calls(to=to, from_=number.number, started_on_or_after=day)
    listed += await client.list_calls(to=to, from_=number.number, status="queued")
    repo = CallRepository(session)
    found: list[tuple[datetime, dict[str, Any]]] = []
    for resource in listed:
        sid = str(resource.get("sid") or "")
        try:
            created = parsedate_to_datetime(str(resource.get("date_created")))
        except (TypeError, ValueError):
            continue
        # Twilio's dates have whole seconds: allow one second, and a little clock skew.
        if not sid or created < since - timedelta(seconds=5):
            continue
        if await repo.by_carrier_call(number.carrier, sid) is None:
            found.append((created, resource))
    if not found:
        return None
    _, first = min(found, key=lambda item: item[0])
    duration = first.get("duration")
    return CarrierCall(
        carrier_call_id=str(first["sid"]),
        status="queued" if first.get("status") == "initiated" else str(first.get("status") or "queued"),
        duration_s=float(duration) if isinstance(duration, str) and duration.isdigit() else None,
    )


async def adopt_outbound_call(
    session: AsyncSession,
    *,
    ctx: AppContext,
    org_id: str,
    call_id: str,
    agent_id: str,
    phone_number_id: str,
    to: str,
    variables: dict[str, str],
    idempotency_key: str,
    placed: CarrierCall,
) -> Call:
    """Write down a call the carrier placed for us but whose record was lost with its process: the
    record ``place_outbound_call`` would have written, at the carrier's current status."""
    principal = system(org_id)
    version = await agents.get_published_version(session, principal=principal, agent_id=agent_id)
    number = await get_number(session, principal=principal, number_id=phone_number_id)
    call = Call(
        id=call_id,
        org_id=org_id,
        agent_id=version.agent_id,
        agent_version=version.version,
        direction="outbound",
        status="queued",
        variables=dict(variables),
        phone_number_id=number.id,
        carrier=number.carrier,
        carrier_call_id=placed.carrier_call_id,
        idempotency_key=idempotency_key,
    )
    set_numbers(ctx, call, from_number=number.number, to_number=to)
    live = placed.status not in lifecycle.ENDED
    if live:
        with contextlib.suppress(concurrency.CallLimitReached):  # it is on the line already: count it
            await concurrency.check_and_take(session, ctx=ctx, org_id=org_id, call_id=call.id)
    repo = CallRepository(session)
    repo.add(call)
    await repo.flush()
    await lifecycle.add_event(session, call=call, type="call.status", data={"status": "queued", "adopted": True})
    await record(
        session,
        actor=Actor(org_id=org_id, actor_type="system", actor_id=None),
        action="call.create",
        target_type="call",
        target_id=call.id,
        changes={"direction": "outbound", "agent_id": call.agent_id, "recovered_from_carrier": True},
    )
    if placed.status != "queued":
        await carrier_status(session, ctx=ctx, call=call, status=placed.status, duration_s=placed.duration_s)
    return call


async def refresh_call_status(session: AsyncSession, *, ctx: AppContext, call_id: str, commit: bool) -> str | None:
    """Ask the carrier where a live call is and apply it (an end whose status callback was lost);
    the carrier's status, or None when the call is over here already or the carrier cannot be asked."""
    call = await CallRepository(session).call_unscoped(call_id)
    if call is None or call.ended_at is not None or call.carrier != "twilio" or not call.carrier_call_id:
        return None
    from bvrai.telephony.twilio import TwilioClient

    try:
        resource = await TwilioClient(await call_account(session, ctx=ctx, call=call)).fetch_call(call.carrier_call_id)
    except CarrierError:
        log.warning("carrier_status_fetch_failed", call_id=call.id, exc_info=True)
        return None
    status = "queued" if resource.get("status") == "initiated" else str(resource.get("status") or "")
    duration = resource.get("duration")
    if status in lifecycle.ENDED or status in ("ringing", "in-progress"):
        await carrier_status(
            session,
            ctx=ctx,
            call=call,
            status=status,
            duration_s=float(duration) if isinstance(duration, str) and duration.isdigit() else None,
            data={"carrier_status": status, "source": "carrier-poll"},
        )
    if commit:
        await session.commit()
    return status


async def answer_outbound(session: AsyncSession, *, ctx: AppContext, call: Call) -> media_tokens.MediaToken | None:
    """The callee picked up: a fresh media token for the stream (None if the call is over)."""
    if call.ended_at is not None or call.media_attached_at is not None:
        return None
    token = media_tokens.issue(secret=ctx.secret_key, call_id=call.id)
    call.media_token_id = token.token_id
    return token


async def carrier_status(
    session: AsyncSession,
    *,
    ctx: AppContext,
    call: Call,
    status: str,
    duration_s: float | None = None,
    answered_by: str | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    changed = await lifecycle.apply_carrier_status(
        session, call=call, status=status, duration_s=duration_s, answered_by=answered_by, data=data
    )
    if changed and call.ended_at is not None:
        await concurrency.release(ctx, org_id=call.org_id, call_id=call.id)
    return changed


async def call_account(session: AsyncSession, *, ctx: AppContext, call: Call) -> CarrierAccount:
    assert call.phone_number_id is not None
    number = found(await PhoneNumberRepository(session).by_id_unscoped(call.phone_number_id), "phone number")
    return await account_of(session, ctx=ctx, number=number)


def _require_live_phone_call(call: Call) -> str:
    if call.carrier is None or call.carrier_call_id is None:
        raise Conflict("only phone calls can be hung up or transferred through the carrier")
    if call.ended_at is not None:
        raise Conflict(f"the call has already ended ({call.status})")
    return call.carrier_call_id


async def hangup(session: AsyncSession, *, ctx: AppContext, call: Call, reason: str | None = "api-hangup") -> None:
    """Ask the carrier to end the call; the carrier's stream stop and status callback then end it here.

    The reason is written (and the row locked) before the carrier is asked, so the session ending on
    the carrier's stop finds it and keeps it."""
    carrier_call_id = _require_live_phone_call(call)
    if reason:
        call.end_reason = call.end_reason or reason
    await lifecycle.add_event(session, call=call, type="call.hangup", data={"by": reason or "agent"})
    await session.flush()
    try:
        await client_for(await call_account(session, ctx=ctx, call=call)).hangup(carrier_call_id)
    except CarrierError as exc:
        raise _carrier_problem(exc) from exc


async def transfer(session: AsyncSession, *, ctx: AppContext, call: Call, number: str) -> None:
    """Cold transfer: the carrier dials ``number`` for the caller and the agent's stream ends."""
    try:
        target = to_e164(number)
    except ValueError as exc:
        raise ValidationFailed(str(exc), errors=[{"loc": ["number"], "msg": str(exc), "type": "value_error"}]) from exc
    carrier_call_id = _require_live_phone_call(call)
    call.end_reason = "transferred"
    await lifecycle.add_event(session, call=call, type="call.transferred", data={"to": target})
    await session.flush()
    try:
        await client_for(await call_account(session, ctx=ctx, call=call)).transfer(carrier_call_id, target)
    except CarrierError as exc:
        raise _carrier_problem(exc) from exc


def numbers_of(ctx: AppContext, call: Call) -> tuple[str | None, str | None]:
    return read_numbers(ctx, call)
