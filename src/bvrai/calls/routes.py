from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import FileResponse

from bvrai.calls import service
from bvrai.calls.models import Call
from bvrai.calls.phones import number_hash, read_numbers
from bvrai.calls.schemas import (
    CallEventOut,
    CallMessageOut,
    CallOut,
    OutboundCallIn,
    TranscriptOut,
    TransferIn,
    WebCallIn,
    WebCallOut,
)
from bvrai.identity.auth import require
from bvrai.identity.principal import Principal
from bvrai.kit.context import Ctx, Session
from bvrai.kit.errors import NotFound, problem_responses
from bvrai.kit.pagination import Page, PageParams, page_params
from bvrai.telephony import service as telephony

router = APIRouter(prefix="/v1", tags=["calls"])
Reader = Annotated[Principal, Depends(require("calls:read"))]
Writer = Annotated[Principal, Depends(require("calls:write"))]
CallId = Annotated[str, Path(max_length=64)]


def call_out(ctx: Ctx, call: Call) -> CallOut:
    out = CallOut.model_validate(call)
    out.has_recording = bool(call.recording_key) and ctx.storage.exists(call.recording_key or "")
    out.from_number, out.to_number = read_numbers(ctx, call)
    return out


@router.post("/calls", response_model=CallOut, status_code=201, responses=problem_responses(404, 409, 429, 502))
async def place_call(
    data: OutboundCallIn,
    ctx: Ctx,
    principal: Writer,
    session: Session,
    idempotency_key: Annotated[str | None, Header(max_length=120)] = None,
) -> CallOut:
    """Call a phone number: the carrier dials `to` from `phone_number_id`, and the agent's published
    version talks when the callee answers.

    The call starts `queued`, then follows the carrier: `ringing`, `in-progress`, and one of
    `completed`, `busy`, `no-answer`, `failed`, `canceled`. A 429 means the organization has as many
    live phone calls as it may have. Repeating a request with the same `Idempotency-Key` header
    returns the first call instead of dialing again.
    """
    call = await telephony.place_outbound_call(
        session,
        ctx=ctx,
        org_id=principal.org_id,
        agent_id=data.agent_id,
        phone_number_id=data.phone_number_id,
        to=data.to,
        variables=data.variables,
        idempotency_key=idempotency_key,
        machine_detection=data.machine_detection,
        ring_timeout_s=data.ring_timeout_s,
        actor=principal.actor,
    )
    return call_out(ctx, call)


@router.post("/calls/{call_id}/hangup", response_model=CallOut, responses=problem_responses(404, 409, 502))
async def hangup_call(call_id: CallId, ctx: Ctx, principal: Writer, session: Session) -> CallOut:
    """End a live phone call through its carrier; the record shows it ended once the carrier confirms."""
    call = await service.get_call(session, principal=principal, call_id=call_id)
    await telephony.hangup(session, ctx=ctx, call=call)
    return call_out(ctx, call)


@router.post("/calls/{call_id}/transfer", response_model=CallOut, responses=problem_responses(404, 409, 502))
async def transfer_call(call_id: CallId, data: TransferIn, ctx: Ctx, principal: Writer, session: Session) -> CallOut:
    """Cold transfer: the carrier connects the caller to `number` and the agent leaves the call."""
    call = await service.get_call(session, principal=principal, call_id=call_id)
    await telephony.transfer(session, ctx=ctx, call=call, number=data.number)
    return call_out(ctx, call)


@router.post("/web-calls", response_model=WebCallOut, status_code=201, responses=problem_responses(404, 409))
async def start_web_call(
    data: WebCallIn, request: Request, ctx: Ctx, principal: Writer, session: Session
) -> WebCallOut:
    """Start a browser (or simulated) call with an agent's published version.

    Connect to `websocket_url` with `?token=` within 60 s and stream 16 kHz PCM16 mono audio in binary
    frames; the agent's audio comes back the same way.
    """
    call, token = await service.start_web_call(
        session, ctx=ctx, principal=principal, agent_id=data.agent_id, variables=data.variables
    )
    # The browser reaches the media line where it reached the API (proxies forward Host and scheme).
    ws_base = str(request.base_url).replace("http", "ws", 1).rstrip("/")
    return WebCallOut(
        call=call_out(ctx, call),
        token=token.token,
        websocket_url=f"{ws_base}/media/web",
        expires_at=token.expires_at,
    )


@router.get("/calls", response_model=Page[CallOut])
async def list_calls(
    ctx: Ctx,
    principal: Reader,
    session: Session,
    pages: Annotated[PageParams, Depends(page_params)],
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    direction: Annotated[Literal["inbound", "outbound", "web"] | None, Query()] = None,
    phone: Annotated[str | None, Query(max_length=32, description="Calls from or to this number")] = None,
) -> Page[CallOut]:
    filters = {
        "agent_id": agent_id,
        "status": status,
        "direction": direction,
        "phone_hash": number_hash(ctx, phone) if phone else None,
    }
    rows, cursor = await service.list_calls(session, principal=principal, params=pages, filters=filters)
    return Page(data=[call_out(ctx, r) for r in rows], next_cursor=cursor)


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: CallId, ctx: Ctx, principal: Reader, session: Session) -> CallOut:
    return call_out(ctx, await service.get_call(session, principal=principal, call_id=call_id))


@router.get("/calls/{call_id}/transcript", response_model=TranscriptOut)
async def get_transcript(call_id: CallId, principal: Reader, session: Session) -> TranscriptOut:
    """Every message of the call in order; interrupted agent turns hold only what the caller heard."""
    messages = await service.transcript(session, principal=principal, call_id=call_id)
    return TranscriptOut(call_id=call_id, messages=[CallMessageOut.model_validate(m) for m in messages])


@router.get("/calls/{call_id}/events", response_model=list[CallEventOut])
async def get_events(call_id: CallId, principal: Reader, session: Session) -> list[CallEventOut]:
    return [CallEventOut.model_validate(e) for e in await service.events(session, principal=principal, call_id=call_id)]


@router.get(
    "/calls/{call_id}/recording",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}, "description": "Stereo WAV: caller left, agent right"}},
)
async def get_recording(call_id: CallId, ctx: Ctx, principal: Reader, session: Session) -> FileResponse:
    call = await service.get_call(session, principal=principal, call_id=call_id)
    if not call.recording_key or not ctx.storage.exists(call.recording_key):
        raise NotFound("this call has no recording")
    return FileResponse(ctx.storage.path(call.recording_key), media_type="audio/wav", filename=f"{call.id}.wav")
