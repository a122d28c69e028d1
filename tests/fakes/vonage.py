"""A fake Vonage Voice API (protocols.md 2.2): the signed answer webhook and the audio WebSocket.

The answer webhook is a GET (``to``, ``from``, ``uuid``, ``conversation_uuid``) signed with
``Authorization: Bearer <JWT>`` (HS256, the account's signature secret). The NCCO's ``connect``
websocket endpoint is opened: first a text ``websocket:connected`` with the content type and the
endpoint's ``headers``, then binary 16-bit PCM frames of exactly 20 ms; the server sends binary
audio (each message 20 ms: shorter ones would be dropped) and ``{"action": "clear"}``. The call
ends with the socket closing.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import jwt

from tests.fakes.carrier_media import CarrierMediaClient, Heard

RATE = 16000


class VonageSocket(CarrierMediaClient):
    frame_bytes = RATE * 2 // 50
    silence = b"\x00" * (RATE * 2 // 50)

    def __init__(self, url: str, *, content_type: str, headers: dict[str, str]) -> None:
        super().__init__(url)
        self.content_type, self.echo_headers = content_type, headers

    def opening(self) -> list[str | bytes]:
        return [json.dumps({"event": "websocket:connected", "content-type": self.content_type, **self.echo_headers})]

    def media(self, frame: bytes, chunk: int, timestamp_ms: int) -> bytes:
        return frame

    def receive(self, message: str | bytes, now: float) -> None:
        if isinstance(message, bytes):
            if len(message) != self.frame_bytes:
                self.result.protocol_errors.append(f"audio message of {len(message)} bytes, not 20 ms")
            self.result.heard.append(Heard(now, message))
            return
        parsed = self.parse(message, now)
        if parsed is not None and parsed.get("action") not in ("clear", "notify"):
            self.result.protocol_errors.append(f"unknown message {parsed!r}")


class VonageFake:
    name = "vonage"

    def __init__(self, signature_secret: str = "vonage-signature-secret-0123456789") -> None:
        self.signature_secret = signature_secret

    def token(self, secret: str | None = None) -> str:
        claims = {"iat": int(time.time()), "jti": str(uuid.uuid4()), "iss": "Vonage", "api_key": "abcd1234"}
        return jwt.encode(claims, secret or self.signature_secret, algorithm="HS256")

    async def incoming_call(
        self, *, from_: str, to: str, answer_url: str, signed: bool = True
    ) -> tuple[httpx.Response, str]:
        call_uuid = str(uuid.uuid4())
        params = {
            "to": to.lstrip("+"),
            "from": from_.lstrip("+"),
            "uuid": call_uuid,
            "conversation_uuid": "CON-" + str(uuid.uuid4()),
        }
        token = self.token() if signed else self.token("not-the-secret-at-all-00000")
        async with httpx.AsyncClient(timeout=20) as http:
            return await http.get(answer_url, params=params, headers={"Authorization": f"Bearer {token}"}), call_uuid

    async def connect(self, ncco: list[dict[str, Any]]) -> VonageSocket:
        connect = next(a for a in ncco if a.get("action") == "connect")
        endpoint = connect["endpoint"][0]
        assert endpoint["type"] == "websocket" and endpoint["content-type"] == f"audio/l16;rate={RATE}", endpoint
        socket = VonageSocket(
            endpoint["uri"], content_type=endpoint["content-type"], headers=endpoint.get("headers", {})
        )
        return await socket.connect()  # type: ignore[return-value]
