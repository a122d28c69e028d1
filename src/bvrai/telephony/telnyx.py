"""Telnyx (Call Control): the signed ``call.initiated`` webhook, the answer with a media stream, the
media WebSocket on pipecat's ``TelnyxFrameSerializer``, and REST hang-up and transfer.

Credential: the secret is the API key (``Authorization: Bearer``); ``extra.public_key`` is the
account's Ed25519 public key (base64) that webhooks are verified with: ``telnyx-signature-ed25519``
over ``"{telnyx-timestamp}|{raw body}"``, refused when older than five minutes.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Request, Response, WebSocket
from pipecat.serializers.telnyx import TelnyxFrameSerializer

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

API_BASE = "https://api.telnyx.com"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SIGNATURE_MAX_AGE_S = 300


class TelnyxLineSerializer(BatchedInputAudio, TelnyxFrameSerializer):
    """pipecat's Telnyx serializer; the caller's audio reaches the pipeline in ``INPUT_FRAME_MS`` frames."""


router = APIRouter(prefix="/telephony/telnyx", include_in_schema=False)
media_router = APIRouter(prefix="/telephony/telnyx")


class TelnyxClient:
    def __init__(self, account: CarrierAccount) -> None:
        self.api_key = account.secret
        self.base_url = (account.base_url or API_BASE).rstrip("/")

    async def _action(self, call_control_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/v2/calls/{call_control_id}/actions/{action}"
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                r = await http.post(url, json=body, headers={"Authorization": f"Bearer {self.api_key}"})
        except httpx.HTTPError as exc:
            raise CarrierError(f"Telnyx is unreachable: {exc!r}") from exc
        try:
            payload: dict[str, Any] = r.json()
        except ValueError:
            payload = {}
        if r.status_code >= 400:
            errors = payload.get("errors") or [{}]
            code = errors[0].get("code")
            detail = errors[0].get("detail") or errors[0].get("title") or r.text[:200]
            raise CarrierError(f"Telnyx answered {r.status_code}: {detail}", status=r.status_code, code=code)
        return payload

    async def answer(self, call_control_id: str, *, stream_url: str) -> None:
        body = {
            "stream_url": stream_url,
            "stream_track": "inbound_track",
            "stream_bidirectional_mode": "rtp",
            "stream_bidirectional_codec": "PCMU",
        }
        await self._action(call_control_id, "answer", body)

    async def place_call(self, **_: Any) -> PlacedCall:
        raise CarrierError("outbound calls through Telnyx are not supported yet", status=400)

    async def hangup(self, carrier_call_id: str) -> None:
        try:
            await self._action(carrier_call_id, "hangup", {})
        except CarrierError as exc:
            if str(exc.code) != "90018":  # the call already ended
                raise

    async def transfer(self, carrier_call_id: str, number: str) -> None:
        await self._action(carrier_call_id, "transfer", {"to": number})


def signature_valid(*, public_key_b64: str, timestamp: str, body: bytes, signature_b64: str) -> bool:
    try:
        if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE_S:
            return False
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(base64.b64decode(signature_b64), f"{timestamp}|".encode() + body)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@router.post("/voice", status_code=200)
async def voice(request: Request, ctx: Ctx, session: Session) -> Response:
    """Call Control events; on ``call.initiated`` for one of our numbers, answer it with a stream."""
    body = await request.body()
    try:
        event = json.loads(body)
        data = event["data"]
        kind, payload = data["event_type"], data["payload"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("not a Telnyx webhook") from exc
    if kind != "call.initiated" or payload.get("direction") != "incoming":
        return Response(status_code=200)  # other events are acknowledged (hang-ups end the stream anyway)
    number = await PhoneNumberRepository(session).by_number("telnyx", str(payload.get("to")))
    if number is None:
        raise NotFound("this number is not connected to BVRAI")
    account = await service.account_of(session, ctx=ctx, number=number)
    if not signature_valid(
        public_key_b64=str(account.extra.get("public_key") or ""),
        timestamp=request.headers.get("telnyx-timestamp", "0"),
        body=body,
        signature_b64=request.headers.get("telnyx-signature-ed25519", ""),
    ):
        raise Forbidden("invalid telnyx-signature-ed25519")
    control_id = str(payload["call_control_id"])
    client = TelnyxClient(account)
    try:
        started = await service.start_inbound_call(
            session, ctx=ctx, number=number, carrier_call_id=control_id, from_number=str(payload.get("from"))
        )
    except CallLimitReached:
        started = None
    if started is None:
        await client.hangup(control_id)
        return Response(status_code=200)
    _call, token = started
    await session.commit()  # the stream connects as soon as the answer is accepted
    await client.answer(control_id, stream_url=f"{service.media_url(ctx, 'telnyx')}?token={token.token}")
    return Response(status_code=200)


@media_router.websocket("/media")
async def media(websocket: WebSocket) -> None:
    ctx: AppContext = websocket.app.state.ctx
    await websocket.accept()
    try:
        start = await read_until(websocket, "start")
        details = start.get("start") or {}
        token = websocket.query_params.get("token", "")
        call, spec = await attach(ctx, token=token, carrier="telnyx", carrier_call_id=details.get("call_control_id"))
    except StreamRefused as refused:
        await refuse(websocket, refused)
        return
    in_rate = pipeline_in_rate(spec)
    encoding = str((details.get("media_format") or {}).get("encoding") or "PCMU")
    serializer = TelnyxLineSerializer(
        stream_id=str(start.get("stream_id")),
        outbound_encoding="PCMU",
        inbound_encoding=encoding,
        call_control_id=details.get("call_control_id"),
        params=TelnyxLineSerializer.InputParams(auto_hang_up=False, sample_rate=in_rate),
    )
    line = phone_line(serializer, in_rate=in_rate)
    await run_call(ctx, websocket, call=call, spec=spec, line=line)
