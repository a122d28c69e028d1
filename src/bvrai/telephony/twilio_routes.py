"""Twilio's ingress: the voice webhook, the outbound answer webhook, status callbacks, Media Streams.

Every webhook is checked with ``X-Twilio-Signature`` against the auth token of the account that owns
the number (403 when it does not match; nothing is created or changed). The signed URL is the public
one (``BVRAI_PUBLIC_BASE_URL`` + path + query), which is what Twilio was told to call.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request, Response, WebSocket

from bvrai.calls.concurrency import CallLimitReached
from bvrai.calls.models import Call
from bvrai.calls.repository import CallRepository
from bvrai.kit.context import AppContext, Ctx, Session
from bvrai.kit.errors import BadRequest, Forbidden, NotFound
from bvrai.telephony import service
from bvrai.telephony.media import (
    StreamRefused,
    attach,
    phone_line,
    pipeline_in_rate,
    read_until,
    refuse,
    run_call,
)
from bvrai.telephony.repository import PhoneNumberRepository
from bvrai.telephony.twilio import (
    STATUSES,
    TwilioLineSerializer,
    hangup_twiml,
    mark_message,
    reject_twiml,
    signature_valid,
    stream_twiml,
)
from bvrai.voice.playback import PlaybackTracker

router = APIRouter(prefix="/telephony/twilio", include_in_schema=False)
media_router = APIRouter(prefix="/telephony/twilio")
log = structlog.get_logger(__name__)

CALL_LOOKUP_WAIT_S = 3.0


def _twiml(xml: str) -> Response:
    return Response(content=xml, media_type="text/xml")


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def _verify(request: Request, ctx: AppContext, *, auth_token: str, params: dict[str, Any]) -> None:
    url = service.public_url(ctx, request.url.path) + (f"?{request.url.query}" if request.url.query else "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature_valid(auth_token=auth_token, url=url, params=params, signature=signature):
        log.info("twilio_signature_refused", path=request.url.path)
        raise Forbidden("invalid X-Twilio-Signature")


async def _call_for(request: Request, ctx: AppContext, call_id: str | None, call_sid: str | None) -> Call:
    """The call a callback is about. An outbound call's first callbacks can race the commit of the
    request that placed it, so a missing call is looked up again for a moment."""
    deadline = asyncio.get_running_loop().time() + CALL_LOOKUP_WAIT_S
    while True:
        async with ctx.sessions() as db:
            repo = CallRepository(db)
            call = await repo.call_unscoped(call_id) if call_id else None
            if call is None and call_sid:
                call = await repo.by_carrier_call("twilio", call_sid)
        if call is not None and call.carrier == "twilio":
            return call
        if asyncio.get_running_loop().time() > deadline:
            raise NotFound("no such call")
        await asyncio.sleep(0.1)


async def _known_or_adopted(request: Request, ctx: AppContext, call_id: str | None, params: dict[str, Any]) -> Call:
    """The call a callback is about. A campaign dial whose process died before writing its call down
    is still named by the call id in our URL: once the callback is verified against the account that
    dialed, the call it reports (its CallSid) is adopted instead of dialed again."""
    try:
        return await _call_for(request, ctx, call_id, params.get("CallSid"))
    except NotFound:
        call_sid = params.get("CallSid")
        if not call_id or not call_sid:
            raise
    from bvrai.campaigns import dialer  # campaigns build on telephony

    async with ctx.sessions() as db:
        account = await dialer.lost_dial_account(db, ctx=ctx, call_id=call_id)
    if account is None or account.carrier != "twilio":
        raise NotFound("no such call")
    await _verify(request, ctx, auth_token=account.secret, params=params)
    if params.get("AccountSid") != account.extra.get("account_sid"):
        raise Forbidden("the call belongs to another Twilio account")
    await dialer.adopt_reported_call(ctx, call_id=call_id, carrier_call_id=call_sid)
    return await _call_for(request, ctx, call_id, call_sid)


@router.post("/voice")
async def voice(request: Request, ctx: Ctx, session: Session) -> Response:
    """A call to one of our numbers: answer with a stream to the media line, or reject it."""
    params = await _form(request)
    to, call_sid = params.get("To"), params.get("CallSid")
    if not to or not call_sid:
        raise BadRequest("To and CallSid are required")
    number = await PhoneNumberRepository(session).by_number("twilio", to)
    if number is None:
        raise NotFound("this number is not connected to BVRAI")
    account = await service.account_of(session, ctx=ctx, number=number)
    await _verify(request, ctx, auth_token=account.secret, params=params)
    if params.get("AccountSid") != account.extra.get("account_sid"):
        raise Forbidden("the number belongs to another Twilio account")
    try:
        started = await service.start_inbound_call(
            session,
            ctx=ctx,
            number=number,
            carrier_call_id=call_sid,
            from_number=params.get("From") or "anonymous",
            status=params.get("CallStatus") or "ringing",
        )
    except CallLimitReached:
        log.info("inbound_call_over_limit", org_id=number.org_id)
        return _twiml(reject_twiml("busy"))
    if started is None:
        return _twiml(reject_twiml("rejected"))
    _call, token = started
    return _twiml(stream_twiml(stream_url=service.media_url(ctx, "twilio"), token=token.token))


@router.post("/answer")
async def answer(
    request: Request, ctx: Ctx, session: Session, call_id: Annotated[str, Query(max_length=64)]
) -> Response:
    """An outbound call was answered: connect it to the media line with a fresh token."""
    params = await _form(request)
    found = await _known_or_adopted(request, ctx, call_id, params)
    call = await CallRepository(session).call_unscoped(found.id)
    assert call is not None
    account = await service.call_account(session, ctx=ctx, call=call)
    await _verify(request, ctx, auth_token=account.secret, params=params)
    if params.get("AnsweredBy"):
        call.answered_by = params["AnsweredBy"]
    token = await service.answer_outbound(session, ctx=ctx, call=call)
    if token is None:
        return _twiml(hangup_twiml())
    return _twiml(stream_twiml(stream_url=service.media_url(ctx, "twilio"), token=token.token))


@router.post("/status", status_code=204)
async def status(
    request: Request, ctx: Ctx, session: Session, call_id: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    """Call progress: queued, ringing, in-progress, then how it ended, with its duration."""
    params = await _form(request)
    found = await _known_or_adopted(request, ctx, call_id, params)
    call = await CallRepository(session).call_unscoped(found.id)
    assert call is not None
    account = await service.call_account(session, ctx=ctx, call=call)
    await _verify(request, ctx, auth_token=account.secret, params=params)
    carrier_status = params.get("CallStatus", "")
    if carrier_status not in STATUSES:
        raise BadRequest(f"unknown CallStatus {carrier_status!r}")
    duration = params.get("CallDuration")
    await service.carrier_status(
        session,
        ctx=ctx,
        call=call,
        status="queued" if carrier_status == "initiated" else carrier_status,
        duration_s=float(duration) if duration and duration.isdigit() else None,
        answered_by=params.get("AnsweredBy"),
        data={"carrier_status": carrier_status, "sequence": params.get("SequenceNumber")},
    )
    return Response(status_code=204)


@media_router.websocket("/media")
async def media(websocket: WebSocket) -> None:
    """Media Streams: ``connected``, ``start`` (our token in ``customParameters``), then audio both ways."""
    ctx: AppContext = websocket.app.state.ctx
    await websocket.accept()
    try:
        start = await read_until(websocket, "start")
        details = start.get("start") or {}
        token = str((details.get("customParameters") or {}).get("token") or "")
        call, spec = await attach(ctx, token=token, carrier="twilio", carrier_call_id=details.get("callSid"))
    except StreamRefused as refused:
        await refuse(websocket, refused)
        return
    in_rate = pipeline_in_rate(spec)
    serializer = TwilioLineSerializer(
        stream_sid=str(start.get("streamSid") or details.get("streamSid")),
        call_sid=details.get("callSid"),
        params=TwilioLineSerializer.InputParams(auto_hang_up=False, sample_rate=in_rate),
    )
    line = phone_line(serializer, in_rate=in_rate, playback=PlaybackTracker(make_mark=mark_message))
    await run_call(ctx, websocket, call=call, spec=spec, line=line)
