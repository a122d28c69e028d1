"""Plivo: the signed answer webhook, the ``<Stream>`` answer XML, the audio stream on pipecat's
``PlivoFrameSerializer``, and REST hang-up.

Credential: the secret is the auth token, ``extra.auth_id`` the account's auth id. Webhooks carry
``X-Plivo-Signature-V2`` (base64 HMAC-SHA256 of the URL without its query string followed by the
``X-Plivo-Signature-V2-Nonce``, keyed with the auth token). The media token rides in
``extraHeaders``, which Plivo echoes in the stream's ``start`` message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import httpx
from fastapi import APIRouter, Request, Response, WebSocket
from pipecat.serializers.plivo import PlivoFrameSerializer

from bvrai.calls.concurrency import CallLimitReached
from bvrai.kit.context import AppContext, Ctx, Session
from bvrai.kit.errors import BadRequest, Forbidden, NotFound
from bvrai.telephony import service
from bvrai.telephony.batching import BatchedInputAudio
from bvrai.telephony.carrier import CarrierAccount, CarrierError, PlacedCall
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

API_BASE = "https://api.plivo.com"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class PlivoLineSerializer(BatchedInputAudio, PlivoFrameSerializer):
    """pipecat's Plivo serializer; the caller's audio reaches the pipeline in ``INPUT_FRAME_MS`` frames."""


router = APIRouter(prefix="/telephony/plivo", include_in_schema=False)
media_router = APIRouter(prefix="/telephony/plivo")


class PlivoClient:
    def __init__(self, account: CarrierAccount) -> None:
        self.auth_id = account.require("auth_id")
        self.auth_token = account.secret
        self.base_url = (account.base_url or API_BASE).rstrip("/")

    async def place_call(self, **_: Any) -> PlacedCall:
        raise CarrierError("outbound calls through Plivo are not supported yet", status=400)

    async def hangup(self, carrier_call_id: str) -> None:
        url = f"{self.base_url}/v1/Account/{self.auth_id}/Call/{carrier_call_id}/"
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, auth=(self.auth_id, self.auth_token)) as http:
                r = await http.delete(url)
        except httpx.HTTPError as exc:
            raise CarrierError(f"Plivo is unreachable: {exc!r}") from exc
        if r.status_code not in (204, 404):  # 404: the call is already over
            raise CarrierError(f"Plivo answered {r.status_code}: {r.text[:200]}", status=r.status_code)

    async def transfer(self, carrier_call_id: str, number: str) -> None:
        raise CarrierError("transfers through Plivo are not supported yet", status=409)


def signature(*, auth_token: str, url: str, nonce: str) -> str:
    base = url.split("?", 1)[0]
    digest = hmac.new(auth_token.encode(), (base + nonce).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def stream_xml(*, stream_url: str, token: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Stream bidirectional="true" keepCallAlive="true" audioTrack="inbound" '
        f'contentType="audio/x-mulaw;rate=8000" extraHeaders={quoteattr("token=" + token)}>'
        f"{escape(stream_url)}</Stream></Response>"
    )


def hangup_xml() -> str:
    return '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'


@router.post("/voice")
async def voice(request: Request, ctx: Ctx, session: Session) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    to, call_uuid = form.get("To"), form.get("CallUUID")
    if not to or not call_uuid:
        raise BadRequest("To and CallUUID are required")
    number = await PhoneNumberRepository(session).by_number("plivo", to if to.startswith("+") else f"+{to}")
    if number is None:
        raise NotFound("this number is not connected to BVRAI")
    account = await service.account_of(session, ctx=ctx, number=number)
    url = service.public_url(ctx, request.url.path)
    expected = signature(
        auth_token=account.secret, url=url, nonce=request.headers.get("X-Plivo-Signature-V2-Nonce", "")
    )
    if not hmac.compare_digest(expected, request.headers.get("X-Plivo-Signature-V2", "")):
        raise Forbidden("invalid X-Plivo-Signature-V2")
    caller = form.get("From") or "anonymous"
    try:
        started = await service.start_inbound_call(
            session,
            ctx=ctx,
            number=number,
            carrier_call_id=call_uuid,
            from_number=caller if caller.startswith("+") else f"+{caller}",
        )
    except CallLimitReached:
        started = None
    if started is None:
        return Response(content=hangup_xml(), media_type="application/xml")
    _call, token = started
    xml = stream_xml(stream_url=service.media_url(ctx, "plivo"), token=token.token)
    return Response(content=xml, media_type="application/xml")


def _extra_headers(start: dict[str, Any]) -> dict[str, str]:
    raw = str(start.get("extra_headers") or "")
    pairs = (part.split("=", 1) for part in raw.replace(";", ",").split(",") if "=" in part)
    return {key.strip(): value.strip() for key, value in pairs}


@media_router.websocket("/media")
async def media(websocket: WebSocket) -> None:
    ctx: AppContext = websocket.app.state.ctx
    await websocket.accept()
    try:
        start = await read_until(websocket, "start")
        details = start.get("start") or {}
        token = _extra_headers(start).get("token", "")
        call, spec = await attach(ctx, token=token, carrier="plivo", carrier_call_id=details.get("callId"))
    except StreamRefused as refused:
        await refuse(websocket, refused)
        return
    in_rate = pipeline_in_rate(spec)
    serializer = PlivoLineSerializer(
        stream_id=str(details.get("streamId")),
        call_id=details.get("callId"),
        params=PlivoLineSerializer.InputParams(auto_hang_up=False, sample_rate=in_rate),
    )
    line = phone_line(serializer, in_rate=in_rate)
    await run_call(ctx, websocket, call=call, spec=spec, line=line)
