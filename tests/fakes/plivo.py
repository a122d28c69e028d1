"""A fake Plivo (protocols.md 2.3): the answer webhook it sends, the audio stream it opens, and
``DELETE /v1/Account/{auth_id}/Call/{uuid}/`` (Basic auth; 204, or 404 for an unknown call).

The answer webhook is form-encoded and signed with ``X-Plivo-Signature-V2`` (base64 HMAC-SHA256 of
the URL without query string plus the nonce). The stream follows the answer XML's ``<Stream>``:
``start`` (numbers as JSON numbers, ``extra_headers`` echoed), ``media`` (base64 μ-law 8 kHz,
20 ms), ``dtmf``; the server sends ``playAudio`` and ``clearAudio``. It ends with the socket closing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
import xml.etree.ElementTree as ET

import httpx
from aiohttp import BasicAuth, web

from tests.fakes.carrier_media import CarrierMediaClient, Heard
from tests.fakes.server import FakeService


class PlivoStream(CarrierMediaClient):
    def __init__(self, url: str, *, call_id: str, account_id: str, extra_headers: str) -> None:
        super().__init__(url)
        self.call_id, self.account_id, self.extra_headers = call_id, account_id, extra_headers
        self.stream_id = str(uuid.uuid4())

    def opening(self) -> list[str | bytes]:
        self.sequence = 1
        start = {
            "callId": self.call_id,
            "streamId": self.stream_id,
            "accountId": self.account_id,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        }
        return [
            json.dumps({"event": "start", "sequenceNumber": 1, "start": start, "extra_headers": self.extra_headers})
        ]

    def media(self, frame: bytes, chunk: int, timestamp_ms: int) -> str:
        self.sequence += 1
        media = {
            "track": "inbound",
            "timestamp": str(timestamp_ms),
            "chunk": chunk,
            "payload": base64.b64encode(frame).decode(),
        }
        message = {"event": "media", "sequenceNumber": self.sequence, "streamId": self.stream_id, "media": media}
        return json.dumps({**message, "extra_headers": self.extra_headers})

    def receive(self, message: str | bytes, now: float) -> None:
        parsed = self.parse(message, now)
        if parsed is None:
            return
        event = parsed.get("event")
        if event == "playAudio":
            media = parsed.get("media") or {}
            if media.get("contentType") != "audio/x-mulaw" or media.get("sampleRate") != 8000:
                self.result.protocol_errors.append(
                    f"playAudio in {media.get('contentType')} at {media.get('sampleRate')}"
                )
            try:
                self.result.heard.append(Heard(now, base64.b64decode(media["payload"], validate=True)))
            except (KeyError, TypeError, ValueError):
                self.result.protocol_errors.append("playAudio without a base64 payload")
        elif event in ("clearAudio", "checkpoint"):
            if parsed.get("streamId") != self.stream_id:
                self.result.protocol_errors.append(f"{event} for stream {parsed.get('streamId')!r}")
        else:
            self.result.protocol_errors.append(f"unknown event {event!r}")


class PlivoFake(FakeService):
    name = "plivo"

    def __init__(self, auth_token: str = "plivo-auth-token-0123456789") -> None:
        self.auth_id = "MA" + secrets.token_hex(9).upper()
        self.auth_token = auth_token
        self.calls: dict[str, PlivoStream | None] = {}
        super().__init__(api_key=auth_token)

    def routes(self, app: web.Application) -> None:
        app.router.add_delete("/v1/Account/{auth_id}/Call/{call}/", self.hangup)

    async def stop(self) -> None:
        for stream in self.calls.values():
            if stream is not None:
                await stream.stop()
        await super().stop()

    def sign(self, url: str, nonce: str) -> str:
        digest = hmac.new(self.auth_token.encode(), (url.split("?", 1)[0] + nonce).encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    async def incoming_call(
        self, *, from_: str, to: str, answer_url: str, signed: bool = True
    ) -> tuple[httpx.Response, str]:
        call_id = str(uuid.uuid4())
        self.calls[call_id] = None
        form = {
            "CallUUID": call_id,
            "From": from_.lstrip("+"),
            "To": to.lstrip("+"),
            "Direction": "inbound",
            "CallStatus": "ringing",
            "Event": "StartApp",
        }
        nonce = secrets.token_hex(10)
        headers = {
            "X-Plivo-Signature-V2": self.sign(answer_url, nonce) if signed else "Zm9yZ2Vk",
            "X-Plivo-Signature-V2-Nonce": nonce,
        }
        async with httpx.AsyncClient(timeout=20) as http:
            return await http.post(answer_url, data=form, headers=headers), call_id

    async def connect_stream(self, call_id: str, xml: str) -> PlivoStream:
        stream_el = ET.fromstring(xml).find("Stream")  # noqa: S314 - our own server's XML
        assert stream_el is not None and stream_el.get("bidirectional") == "true", xml
        stream = PlivoStream(
            (stream_el.text or "").strip(),
            call_id=call_id,
            account_id=self.auth_id,
            extra_headers=stream_el.get("extraHeaders", ""),
        )
        self.calls[call_id] = stream
        return await stream.connect()  # type: ignore[return-value]

    async def hangup(self, request: web.Request) -> web.Response:
        await self.record(request)
        try:
            auth = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            auth = None
        if (
            auth is None
            or (auth.login, auth.password) != (self.auth_id, self.auth_token)
            or request.match_info["auth_id"] != self.auth_id
        ):
            return web.json_response({"error": "authentication failed"}, status=401)
        call = request.match_info["call"]
        if call not in self.calls:
            return web.json_response({"error": "not found"}, status=404)
        stream = self.calls.pop(call)
        if stream is not None:
            await stream.stop()
        return web.Response(status=204)
