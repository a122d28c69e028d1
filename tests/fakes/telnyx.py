"""A fake Telnyx (protocols.md 2.1): Call Control REST and the media stream it opens.

REST: ``POST /v2/calls/{call_control_id}/actions/{answer|hangup|transfer}`` with
``Authorization: Bearer <API key>`` (401 otherwise), JSON bodies; an unknown or ended call answers
422 with code 90018. Webhooks (``call.initiated``) are JSON envelopes signed with Ed25519 over
``"{timestamp}|{body}"``, with the fake account's private key. When a call is answered with a
``stream_url`` the fake opens the media stream: ``connected``, ``start`` (PCMU 8 kHz), then ``media``
(base64 PCMU, 20 ms, stringly ``sequence_number``/``chunk``/``timestamp``), ``dtmf``, and ``stop``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.fakes.carrier_media import CarrierMediaClient, Heard
from tests.fakes.server import FakeService, read_json


class TelnyxStream(CarrierMediaClient):
    def __init__(self, url: str, *, call_control_id: str, from_: str, to: str) -> None:
        super().__init__(url)
        self.stream_id = str(uuid.uuid4()).upper()
        self.call_control_id, self.from_, self.to = call_control_id, from_, to

    def _numbered(self, message: dict[str, Any]) -> str:
        self.sequence += 1
        return json.dumps({"sequence_number": str(self.sequence), **message, "stream_id": self.stream_id})

    def opening(self) -> list[str | bytes]:
        start = {
            "user_id": str(uuid.uuid4()),
            "call_control_id": self.call_control_id,
            "call_session_id": str(uuid.uuid4()),
            "from": self.from_,
            "to": self.to,
            "custom_parameters": {},
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        }
        return [
            json.dumps({"event": "connected", "version": "1.0.0"}),
            self._numbered({"event": "start", "start": start}),
        ]

    def media(self, frame: bytes, chunk: int, timestamp_ms: int) -> str:
        media = {"track": "inbound", "chunk": str(chunk), "timestamp": str(timestamp_ms)}
        return self._numbered({"event": "media", "media": {**media, "payload": base64.b64encode(frame).decode()}})

    def closing(self) -> list[str | bytes]:
        return [self._numbered({"event": "stop", "stop": {"call_control_id": self.call_control_id}})]

    def receive(self, message: str | bytes, now: float) -> None:
        parsed = self.parse(message, now)
        if parsed is None:
            return
        event = parsed.get("event")
        if event == "media":
            try:
                self.result.heard.append(Heard(now, base64.b64decode(parsed["media"]["payload"], validate=True)))
            except (KeyError, TypeError, ValueError):
                self.result.protocol_errors.append("media without a base64 payload")
        elif event not in ("clear", "mark"):
            self.result.protocol_errors.append(f"unknown event {event!r}")


@dataclass
class TelnyxCall:
    call_control_id: str
    from_: str
    to: str
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    stream: TelnyxStream | None = None
    ended: bool = False


class TelnyxFake(FakeService):
    name = "telnyx"

    def __init__(self, api_key: str = "KEY0123456789TELNYX") -> None:
        self._private = Ed25519PrivateKey.generate()
        public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = base64.b64encode(public).decode()
        self.calls: dict[str, TelnyxCall] = {}
        self.streams: asyncio.Queue[TelnyxStream] = asyncio.Queue()
        self._tasks: set[asyncio.Future[Any]] = set()
        super().__init__(api_key=api_key)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/calls/{call}/actions/{action}", self.action)

    async def stop(self) -> None:
        for call in self.calls.values():
            if call.stream is not None:
                await call.stream.stop()
        await super().stop()

    def sign(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        timestamp = timestamp or str(int(time.time()))
        signature = self._private.sign(f"{timestamp}|".encode() + body)
        return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(), "telnyx-timestamp": timestamp}

    async def incoming_call(self, *, from_: str, to: str, webhook_url: str, signed: bool = True) -> httpx.Response:
        call = TelnyxCall(call_control_id="v3:" + uuid.uuid4().hex, from_=from_, to=to)
        self.calls[call.call_control_id] = call
        payload = {
            "call_control_id": call.call_control_id,
            "call_leg_id": str(uuid.uuid4()),
            "call_session_id": str(uuid.uuid4()),
            "connection_id": "1234567890",
            "direction": "incoming",
            "from": from_,
            "to": to,
            "state": "parked",
        }
        data = {"event_type": "call.initiated", "id": str(uuid.uuid4()), "occurred_at": "2026-01-01T12:00:00.000000Z"}
        envelope = {"data": {**data, "payload": payload, "record_type": "event"}, "meta": {"attempt": 1}}
        body = json.dumps(envelope).encode()
        headers = {"Content-Type": "application/json", **(self.sign(body) if signed else self.sign(b"forged"))}
        async with httpx.AsyncClient(timeout=20) as http:
            return await http.post(webhook_url, content=body, headers=headers)

    async def action(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        await self.record(request, body)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"errors": [{"code": "10009", "title": "Authentication failed"}]}, status=401)
        call = self.calls.get(request.match_info["call"])
        if call is None or call.ended:
            error = {"code": "90018", "title": "Call has already ended", "detail": "This call is no longer active."}
            return web.json_response({"errors": [error]}, status=422)
        action = request.match_info["action"]
        call.actions.append((action, body or {}))
        if action == "answer":
            url = (body or {}).get("stream_url")
            if url:
                self._spawn(self._open_stream(call, url))
        elif action in ("hangup", "transfer"):
            call.ended = True
            if call.stream is not None:
                self._spawn(call.stream.stop())
        return web.json_response({"data": {"result": "ok"}})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_stream(self, call: TelnyxCall, url: str) -> None:
        await asyncio.sleep(0.05)  # Telnyx answers the command first, then starts streaming
        call.stream = TelnyxStream(url, call_control_id=call.call_control_id, from_=call.from_, to=call.to)
        await call.stream.connect()
        await self.streams.put(call.stream)
