"""Vonage Voice API: the signed answer webhook, the NCCO that connects the call to our WebSocket,
and the audio socket on pipecat's ``VonageFrameSerializer`` (binary 16-bit PCM at 16 kHz).

Credential: the secret is the account's signature secret; signed webhooks carry
``Authorization: Bearer <JWT>`` (HS256 with that secret; a request body's SHA-256 in
``payload_hash``). The media token rides in the websocket endpoint's ``headers``, which Vonage echoes
in its ``websocket:connected`` message. Hanging up is closing that socket (the NCCO has nothing after
it); REST control needs an application's private key and is not wired yet.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from pipecat.serializers.vonage import VonageFrameSerializer

from bvrai.calls.concurrency import CallLimitReached
from bvrai.kit.context import AppContext, Ctx, Session
from bvrai.kit.errors import Forbidden, NotFound
from bvrai.telephony import service
from bvrai.telephony.carrier import CarrierAccount, CarrierError, PlacedCall
from bvrai.telephony.media import StreamRefused, attach, phone_line, read_until, refuse, run_call
from bvrai.telephony.repository import PhoneNumberRepository

RATE = 16000
FRAME_BYTES = RATE * 2 // 50  # Vonage takes exactly 20 ms per binary message

router = APIRouter(prefix="/telephony/vonage", include_in_schema=False)
media_router = APIRouter(prefix="/telephony/vonage")


class VonageClient:
    def __init__(self, account: CarrierAccount) -> None:
        self.account = account

    async def place_call(self, **_: Any) -> PlacedCall:
        raise CarrierError("outbound calls through Vonage are not supported yet", status=400)

    async def hangup(self, carrier_call_id: str) -> None:
        return None  # the session closing the WebSocket ends the call (nothing follows it in the NCCO)

    async def transfer(self, carrier_call_id: str, number: str) -> None:
        raise CarrierError("transfers through Vonage are not supported yet", status=409)


def signed(request: Request, body: bytes, secret: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["iat"]})
    except jwt.PyJWTError:
        return False
    return not body or claims.get("payload_hash") == hashlib.sha256(body).hexdigest()


def e164(value: str) -> str:
    return value if value.startswith("+") else f"+{value}"


@router.get("/answer")
async def answer(
    request: Request,
    ctx: Ctx,
    session: Session,
    to: Annotated[str, Query(max_length=32)],
    uuid: Annotated[str, Query(max_length=80)],
    from_: Annotated[str, Query(alias="from", max_length=80)] = "anonymous",
) -> JSONResponse:
    number = await PhoneNumberRepository(session).by_number("vonage", e164(to))
    if number is None:
        raise NotFound("this number is not connected to BVRAI")
    account = await service.account_of(session, ctx=ctx, number=number)
    if not signed(request, await request.body(), account.secret):
        raise Forbidden("invalid Vonage webhook signature")
    try:
        started = await service.start_inbound_call(
            session, ctx=ctx, number=number, carrier_call_id=uuid, from_number=e164(from_)
        )
    except CallLimitReached:
        started = None
    if started is None:
        return JSONResponse([{"action": "talk", "text": "Sorry, nobody can take your call right now."}])
    _call, token = started
    endpoint = {
        "type": "websocket",
        "uri": service.media_url(ctx, "vonage"),
        "content-type": f"audio/l16;rate={RATE}",
        "headers": {"token": token.token, "call_uuid": uuid},
    }
    return JSONResponse([{"action": "connect", "endpoint": [endpoint]}])


@media_router.websocket("/media")
async def media(websocket: WebSocket) -> None:
    ctx: AppContext = websocket.app.state.ctx
    await websocket.accept()
    try:
        connected = await read_until(websocket, "websocket:connected")
        token = str(connected.get("token") or "")
        call, spec = await attach(ctx, token=token, carrier="vonage", carrier_call_id=connected.get("call_uuid"))
    except StreamRefused as refused:
        await refuse(websocket, refused)
        return
    serializer = VonageFrameSerializer(
        params=VonageFrameSerializer.InputParams(vonage_sample_rate=RATE, sample_rate=RATE)
    )
    line = phone_line(serializer, in_rate=RATE, out_rate=RATE, fixed_audio_packet_size=FRAME_BYTES)
    await run_call(ctx, websocket, call=call, spec=spec, line=line)
