from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse

from bvrai.calls import service
from bvrai.calls.models import Call
from bvrai.calls.schemas import CallEventOut, CallMessageOut, CallOut, TranscriptOut, WebCallIn, WebCallOut
from bvrai.identity.auth import require
from bvrai.identity.principal import Principal
from bvrai.kit.context import Ctx, Session
from bvrai.kit.errors import NotFound, problem_responses
from bvrai.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/v1", tags=["calls"])
Reader = Annotated[Principal, Depends(require("calls:read"))]
Writer = Annotated[Principal, Depends(require("calls:write"))]
CallId = Annotated[str, Path(max_length=64)]


def call_out(ctx: Ctx, call: Call) -> CallOut:
    out = CallOut.model_validate(call)
    out.has_recording = bool(call.recording_key) and ctx.storage.exists(call.recording_key or "")
    return out


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
) -> Page[CallOut]:
    filters = {"agent_id": agent_id, "status": status, "direction": direction}
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
