"""Twilio: REST control (calls, numbers), TwiML, webhook signatures, and the Media Streams line.

REST goes over httpx with Basic auth (``AccountSid:AuthToken``), form-encoded PascalCase in, JSON
out. TwiML and signature checks come from the official ``twilio`` library. The media line is
pipecat's ``TwilioFrameSerializer`` with two additions: ``mark`` echoes reach the pipeline (so the
session knows what the caller actually heard), and our carrier messages (``mark``) pass through while
the session's client notifications (meant for browsers) do not.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pipecat.frames.frames import Frame, InputTransportMessageFrame, OutputTransportMessageFrame
from pipecat.frames.frames import OutputTransportMessageUrgentFrame as UrgentMessage
from pipecat.serializers.twilio import TwilioFrameSerializer
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from bvrai.telephony.batching import BatchedInputAudio
from bvrai.telephony.carrier import CarrierAccount, CarrierError, PlacedCall

API_BASE = "https://api.twilio.com"
API_VERSION = "2010-04-01"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Twilio's CallStatus values and ours are the same words; "initiated" is its name for a queued leg.
STATUSES = {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"}


class TwilioClient:
    def __init__(self, account: CarrierAccount) -> None:
        self.account_sid = account.require("account_sid")
        self.auth_token = account.secret
        self.base_url = (account.base_url or API_BASE).rstrip("/")

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/{path}"

    async def _request(
        self, method: str, path: str, *, data: dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, auth=(self.account_sid, self.auth_token)) as http:
                r = await http.request(method, self._url(path), data=data, params=params)
        except httpx.HTTPError as exc:
            raise CarrierError(f"Twilio is unreachable: {exc!r}") from exc
        try:
            body: dict[str, Any] = r.json() if r.content else {}
        except ValueError:
            body = {}
        if r.status_code >= 400:
            message = body.get("message") or r.text[:200] or r.reason_phrase
            raise CarrierError(
                f"Twilio answered {r.status_code}: {message}", status=r.status_code, code=body.get("code")
            )
        return body

    # --- calls -----------------------------------------------------------------------------------------------------

    async def place_call(
        self,
        *,
        from_number: str,
        to_number: str,
        answer_url: str,
        status_url: str,
        machine_detection: bool,
        ring_timeout_s: int,
    ) -> PlacedCall:
        data: dict[str, Any] = {
            "To": to_number,
            "From": from_number,
            # A URL, not inline TwiML: the stream token is minted when the callee answers, so a long
            # ring cannot outlive it.
            "Url": answer_url,
            "Method": "POST",
            "StatusCallback": status_url,
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
            "Timeout": str(ring_timeout_s),
        }
        if machine_detection:
            data["MachineDetection"] = "Enable"
        body = await self._request("POST", "Calls.json", data=data)
        return PlacedCall(carrier_call_id=str(body["sid"]), status=str(body.get("status") or "queued"))

    async def list_calls(
        self, *, to: str, from_: str, started_on_or_after: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Calls to ``to`` from ``from_``, newest first (one page of 50): ``StartTime>=`` is a UTC date
        (YYYY-MM-DD); a queued call has no start time yet, so it is found with ``status="queued"``."""
        params: dict[str, Any] = {"To": to, "From": from_, "PageSize": 50}
        if started_on_or_after:
            params["StartTime>"] = started_on_or_after  # sent as StartTime>=YYYY-MM-DD
        if status:
            params["Status"] = status
        body = await self._request("GET", "Calls.json", params=params)
        return list(body.get("calls") or [])

    async def fetch_call(self, call_sid: str) -> dict[str, Any]:
        return await self._request("GET", f"Calls/{call_sid}.json")

    async def update_call(self, call_sid: str, data: dict[str, Any]) -> dict[str, Any]:
        return await self._request("POST", f"Calls/{call_sid}.json", data=data)

    async def hangup(self, carrier_call_id: str) -> None:
        try:
            await self.update_call(carrier_call_id, {"Status": "completed"})
        except CarrierError as exc:
            if exc.status != 404:  # 20404: the call is already gone, which is what we wanted
                raise

    async def transfer(self, carrier_call_id: str, number: str) -> None:
        await self.update_call(carrier_call_id, {"Twiml": dial_twiml(number)})

    # --- numbers ---------------------------------------------------------------------------------------------------

    async def available_numbers(
        self, *, country: str, area_code: str | None, contains: str | None, limit: int
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"PageSize": limit, "VoiceEnabled": "true"}
        if area_code:
            params["AreaCode"] = area_code
        if contains:
            params["Contains"] = contains
        body = await self._request("GET", f"AvailablePhoneNumbers/{country}/Local.json", params=params)
        return list(body.get("available_phone_numbers") or [])

    async def buy_number(self, *, number: str, voice_url: str, status_url: str) -> dict[str, Any]:
        data = {
            "PhoneNumber": number,
            "VoiceUrl": voice_url,
            "VoiceMethod": "POST",
            "StatusCallback": status_url,
            "StatusCallbackMethod": "POST",
        }
        return await self._request("POST", "IncomingPhoneNumbers.json", data=data)


# --- TwiML ---------------------------------------------------------------------------------------------------------


def stream_twiml(*, stream_url: str, token: str) -> str:
    """``<Connect><Stream>`` to our media line, the single-use token as its only parameter."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url, name="bvrai")
    stream.parameter(name="token", value=token)
    response.append(connect)
    return str(response.to_xml(xml_declaration=True))


def reject_twiml(reason: str = "busy") -> str:
    response = VoiceResponse()
    response.reject(reason=reason)
    return str(response.to_xml(xml_declaration=True))


def hangup_twiml() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response.to_xml(xml_declaration=True))


def dial_twiml(number: str) -> str:
    response = VoiceResponse()
    response.dial(number)
    return str(response.to_xml(xml_declaration=False))


def signature_valid(*, auth_token: str, url: str, params: dict[str, Any], signature: str) -> bool:
    return bool(signature) and bool(RequestValidator(auth_token).validate(url, params, signature))


# --- the media line ------------------------------------------------------------------------------------------------


class TwilioLineSerializer(BatchedInputAudio, TwilioFrameSerializer):
    """pipecat's Twilio serializer, plus marks: ours go out, Twilio's echoes come back in; the caller's
    audio reaches the pipeline in ``INPUT_FRAME_MS`` frames (``bvrai.telephony.batching``)."""

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, OutputTransportMessageFrame | UrgentMessage):
            message = frame.message
            # Only carrier events (a mark) reach Twilio; the session's browser notifications do not.
            if isinstance(message, dict) and message.get("event") == "mark":
                return json.dumps({**message, "streamSid": self._stream_sid})
            return None
        result: str | bytes | None = await super().serialize(frame)
        return result

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, str):
            try:
                message = json.loads(data)
            except ValueError:
                return None
            if isinstance(message, dict) and message.get("event") == "mark":
                name = (message.get("mark") or {}).get("name")
                return InputTransportMessageFrame(message={"type": "mark", "name": name})
        frame: Frame | None = await super().deserialize(data)
        return frame


def mark_message(name: str) -> dict[str, Any]:
    return {"event": "mark", "mark": {"name": name}}
