"""A fake Twilio: the REST API (calls, numbers) and the calls themselves (protocols.md section 1).

REST: ``/2010-04-01/Accounts/{AccountSid}/...`` with HTTP Basic ``AccountSid:AuthToken`` (401 and
code 20003 otherwise), form-encoded PascalCase in, snake_case JSON out, Twilio's error bodies
(21211 for a bad ``To``, 21212 for a ``From`` the account does not own, 20404 for an unknown call).
Every request is recorded.

Calls behave like Twilio's: an outbound call reports ``initiated`` → ``ringing`` → then, as the test
scripted the callee (``fake.callee(number, "busy")``): ``busy``, ``no-answer``, ``failed``,
``answer-hangup`` (answers, and hangs up before the agent's stream connects), or an answer
(``in-progress``), where the fake fetches the call's ``Url`` (a signed webhook, with
``AnsweredBy`` when machine detection was asked), follows its ``<Connect><Stream>`` with a Media
Streams client (``tests.fakes.twilio_media``) and hands that to the test (``await fake.answered()``).
A REST update (``Status=completed``, or ``Twiml`` with a ``<Dial>``) stops the stream (``stop``, then
close) and completes the call. The call list (``GET Calls.json``) filters by
``To``, ``From``, ``Status`` and ``StartTime`` (``StartTime>=``/``StartTime<=`` dates or ISO 8601 times),
newest first, in pages, as Twilio documents it. Inbound calls start with ``fake.incoming_call(...)``: the signed voice
webhook, then the stream its TwiML asks for. Every webhook is signed with the official library's
``RequestValidator``, exactly as Twilio signs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, formatdate
from typing import Any

import httpx
from aiohttp import BasicAuth, web
from twilio.request_validator import RequestValidator

from tests.fakes.server import FakeService
from tests.fakes.twilio_media import MediaStreamClient, sid

API = "/2010-04-01/Accounts/{account}"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass
class FakeCall:
    sid: str
    to: str
    from_: str
    direction: str
    params: dict[str, Any]
    status: str = "queued"
    callbacks: list[dict[str, str]] = field(default_factory=list)  # status callbacks sent, in order
    stream: MediaStreamClient | None = None
    answered_at: float | None = None
    transferred_to: str | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    sequence: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    start_time: datetime | None = None  # set when it is dialed (queued calls have none)
    end_time: datetime | None = None
    duration: int | None = None

    def statuses(self) -> list[str]:
        return [c["CallStatus"] for c in self.callbacks]


class TwilioFake(FakeService):
    name = "twilio"

    def __init__(self, *, account_sid: str | None = None, auth_token: str = "twilio-auth-token-0123456789") -> None:
        self.account_sid = account_sid or sid("AC")
        self.auth_token = auth_token
        self.validator = RequestValidator(auth_token)
        self.calls: dict[str, FakeCall] = {}
        self.owned: dict[str, dict[str, Any]] = {}  # number -> its IncomingPhoneNumber resource
        self.available = ["+14155550101", "+14155550102", "+14155550103"]
        self.outcomes: dict[str, str] = {}
        self.ring_s = 0.2
        self.respond_delay_s = 0.0  # answer call creations this late (the call is placed at once)
        self.responding = 0  # call creations placed but not answered yet
        self.lost_final_callbacks: set[str] = set()  # callees whose calls' last status callback is lost
        self._answered: asyncio.Queue[FakeCall] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        super().__init__(api_key=auth_token)

    def routes(self, app: web.Application) -> None:
        base = API.format(account="{account}")
        app.router.add_post(base + "/Calls.json", self.create_call)
        app.router.add_get(base + "/Calls.json", self.list_calls)
        app.router.add_post(base + "/Calls/{call}.json", self.update_call)
        app.router.add_get(base + "/Calls/{call}.json", self.fetch_call)
        app.router.add_get(base + "/AvailablePhoneNumbers/{country}/Local.json", self.available_numbers)
        app.router.add_post(base + "/IncomingPhoneNumbers.json", self.buy_number)

    async def stop(self) -> None:
        for call in self.calls.values():
            if call.stream is not None:
                await call.stream.stop()
        for task in list(self._tasks):
            task.cancel()
        await super().stop()

    # --- test controls -----------------------------------------------------------------------------------------

    def own(self, number: str, *, voice_url: str | None = None, status_url: str | None = None) -> None:
        self.owned[number] = {
            "sid": sid("PN"),
            "phone_number": number,
            "voice_url": voice_url,
            "status_callback": status_url,
        }

    def callee(self, number: str, outcome: str) -> None:
        """How ``number`` answers outbound calls: ``answer`` (default), ``answer-hangup``, ``busy``,
        ``no-answer``, ``failed``."""
        self.outcomes[number] = outcome

    async def answered(self, timeout_s: float = 20.0) -> FakeCall:
        """The next outbound call that was answered, its media stream connected."""
        return await asyncio.wait_for(self._answered.get(), timeout_s)

    def sign(self, url: str, params: dict[str, Any]) -> str:
        return str(self.validator.compute_signature(url, params))

    async def webhook(self, url: str, params: dict[str, Any], *, signature: str | None = None) -> httpx.Response:
        headers = {"X-Twilio-Signature": signature if signature is not None else self.sign(url, params)}
        async with httpx.AsyncClient(timeout=20) as http:
            return await http.post(url, data=params, headers=headers)

    async def incoming_call(
        self, *, from_: str, to: str, voice_url: str, signature: str | None = None
    ) -> tuple[httpx.Response, FakeCall]:
        """Someone dials ``to``: Twilio asks the number's voice URL what to do."""
        call = FakeCall(sid=sid("CA"), to=to, from_=from_, direction="inbound", params={}, status="ringing")
        self.calls[call.sid] = call
        response = await self.webhook(voice_url, self._call_params(call), signature=signature)
        return response, call

    async def connect_stream(self, call: FakeCall, twiml: str) -> MediaStreamClient:
        """Follow ``<Connect><Stream>``: open the media stream, as Twilio does once the call is up."""
        url, parameters = parse_stream(twiml)
        call.status, call.answered_at = "in-progress", time.monotonic()
        call.stream = await MediaStreamClient(
            url, account_sid=self.account_sid, call_sid=call.sid, custom_parameters=parameters
        ).connect()
        return call.stream

    async def send_status(self, call: FakeCall, url: str, status: str, **extra: str) -> httpx.Response:
        call.status = status
        params = {**self._call_params(call), "CallbackSource": "call-progress-events", **extra}
        params["SequenceNumber"] = str(call.sequence)
        params["Timestamp"] = formatdate(usegmt=True)
        call.sequence += 1
        call.callbacks.append(params)
        return await self.webhook(url, params)

    def _call_params(self, call: FakeCall) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": "inbound" if call.direction == "inbound" else "outbound-api",
            "From": call.from_,
            "To": call.to,
        }

    # --- REST --------------------------------------------------------------------------------------------------

    def _error(self, status: int, code: int, message: str) -> web.Response:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return web.json_response(body, status=status)

    def _authorized(self, request: web.Request) -> bool:
        try:
            auth = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            return False
        return auth.login == self.account_sid == request.match_info["account"] and auth.password == self.auth_token

    async def _form(self, request: web.Request) -> dict[str, Any] | web.Response:
        if not self._authorized(request):
            await self.record(request)
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        params: dict[str, Any] = {}
        for key in form:
            values = form.getall(key)
            params[key] = values if len(values) > 1 else values[0]
        await self.record(request, params)
        return params

    def _resource(self, call: FakeCall) -> dict[str, Any]:
        def rfc2822(at: datetime | None) -> str | None:
            return format_datetime(at, usegmt=True) if at is not None else None

        return {
            "sid": call.sid,
            "account_sid": self.account_sid,
            "to": call.to,
            "from": call.from_,
            "status": call.status,
            "direction": "outbound-api" if call.direction == "outbound" else "inbound",
            "api_version": "2010-04-01",
            "parent_call_sid": None,
            "answered_by": None,
            "start_time": rfc2822(call.start_time),
            "end_time": rfc2822(call.end_time),
            "duration": str(call.duration) if call.duration is not None else None,
            "price": None,
            "date_created": rfc2822(call.created_at),
            "date_updated": formatdate(usegmt=True),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{call.sid}.json",
        }

    async def list_calls(self, request: web.Request) -> web.Response:
        """``GET Calls.json``: filters ``To``, ``From``, ``Status``, ``StartTime``, ``StartTime>`` (the
        wire form of ``StartTime>=``: on or after), ``StartTime<`` (on or before); ``PageSize``, ``Page``."""
        if not self._authorized(request):
            await self.record(request)
            return self._error(401, 20003, "Authenticate")
        await self.record(request)
        q = request.query
        bounds: list[tuple[str, datetime, bool]] = []
        for key in ("StartTime", "StartTime>", "StartTime<"):
            if key in q:
                parsed = _when(q[key])
                if parsed is None:
                    return self._error(400, 20001, f"Invalid value for {key}: {q[key]}")
                bounds.append((key, *parsed))
        try:
            size = min(max(int(q.get("PageSize", "50")), 1), 1000)
            page = max(int(q.get("Page", "0")), 0)
        except ValueError:
            return self._error(400, 20001, "Invalid PageSize or Page")

        def matches(call: FakeCall) -> bool:
            if ("To" in q and call.to != q["To"]) or ("From" in q and call.from_ != q["From"]):
                return False
            if "Status" in q and call.status != q["Status"]:
                return False
            for key, at, whole_day in bounds:
                if call.start_time is None:
                    return False
                value = call.start_time.date() if whole_day else call.start_time
                bound = at.date() if whole_day else at
                if key == "StartTime" and value != bound:
                    return False
                if key == "StartTime>" and value < bound:
                    return False
                if key == "StartTime<" and value > bound:
                    return False
            return True

        found = sorted((c for c in self.calls.values() if matches(c)), key=lambda c: c.created_at, reverse=True)
        chunk = found[page * size : (page + 1) * size]
        base = f"/2010-04-01/Accounts/{self.account_sid}/Calls.json"
        more = len(found) > (page + 1) * size
        return web.json_response(
            {
                "calls": [self._resource(c) for c in chunk],
                "page": page,
                "page_size": size,
                "start": page * size,
                "end": page * size + max(len(chunk) - 1, 0),
                "uri": f"{base}?PageSize={size}&Page={page}",
                "first_page_uri": f"{base}?PageSize={size}&Page=0",
                "next_page_uri": f"{base}?PageSize={size}&Page={page + 1}" if more else None,
                "previous_page_uri": f"{base}?PageSize={size}&Page={page - 1}" if page else None,
            }
        )

    async def create_call(self, request: web.Request) -> web.Response:
        params = await self._form(request)
        if isinstance(params, web.Response):
            return params
        to, from_ = params.get("To", ""), params.get("From", "")
        if not E164.match(to):
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ not in self.owned:
            return self._error(400, 21212, f"The 'From' number {from_} is not a valid phone number or caller ID.")
        if not any(params.get(k) for k in ("Url", "Twiml", "ApplicationSid")):
            return self._error(400, 21205, "Url parameter is required.")
        call = FakeCall(sid=sid("CA"), to=to, from_=from_, direction="outbound", params=params)
        self.calls[call.sid] = call
        self._spawn(self._run_outbound(call))
        if self.respond_delay_s:  # a slow answer: the call is placed, the client has not heard yet
            self.responding += 1
            try:
                await asyncio.sleep(self.respond_delay_s)
            finally:
                self.responding -= 1
        return web.json_response(self._resource(call), status=201)

    async def fetch_call(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        await self.record(request)
        call = self.calls.get(request.match_info["call"])
        if call is None:
            return self._error(404, 20404, "The requested resource was not found")
        return web.json_response(self._resource(call))

    async def update_call(self, request: web.Request) -> web.Response:
        params = await self._form(request)
        if isinstance(params, web.Response):
            return params
        call = self.calls.get(request.match_info["call"])
        if call is None or call.ended.is_set():
            return self._error(404, 20404, "The requested resource was not found")
        if params.get("Status") in ("completed", "canceled"):
            self._spawn(self._end(call, "completed"))
        elif params.get("Twiml"):
            dial = ET.fromstring(params["Twiml"]).find("Dial")  # noqa: S314 - our own server's TwiML
            if dial is None or not (dial.text or "").strip():
                return self._error(400, 21220, "Invalid TwiML for an in-progress call")
            call.transferred_to = (dial.text or "").strip()
            self._spawn(self._end(call, "completed"))
        else:
            return self._error(400, 21220, "Call is not in a state that allows the update")
        return web.json_response(self._resource(call))

    async def available_numbers(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        await self.record(request)
        found = [
            {"friendly_name": n, "phone_number": n, "locality": "San Francisco", "region": "CA", "iso_country": "US"}
            for n in self.available
            if n not in self.owned
        ]
        return web.json_response({"available_phone_numbers": found[: int(request.query.get("PageSize", 50))]})

    async def buy_number(self, request: web.Request) -> web.Response:
        params = await self._form(request)
        if isinstance(params, web.Response):
            return params
        number = params.get("PhoneNumber", "")
        if number not in self.available or number in self.owned:
            return self._error(400, 21422, f"PhoneNumber {number} is not available.")
        self.own(number, voice_url=params.get("VoiceUrl"), status_url=params.get("StatusCallback"))
        return web.json_response({**self.owned[number], "account_sid": self.account_sid}, status=201)

    # --- the calls themselves ----------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _callback(self, call: FakeCall, status: str, **extra: str) -> None:
        url = call.params.get("StatusCallback")
        final = status in ("completed", "busy", "no-answer", "failed", "canceled")
        if not url or (final and call.to in self.lost_final_callbacks):
            call.status = status
            return
        with contextlib.suppress(httpx.HTTPError):
            await self.send_status(call, url, status, **extra)

    async def _run_outbound(self, call: FakeCall) -> None:
        await asyncio.sleep(0.05)
        call.start_time = datetime.now(UTC)
        await self._callback(call, "queued")  # the "initiated" event
        await asyncio.sleep(self.ring_s)
        await self._callback(call, "ringing")
        outcome = self.outcomes.get(call.to, "answer")
        if outcome not in ("answer", "answer-hangup"):
            await asyncio.sleep(self.ring_s)
            call.ended.set()
            call.end_time, call.duration = datetime.now(UTC), 0
            await self._callback(call, outcome, CallDuration="0")
            return
        call.status, call.answered_at = "in-progress", time.monotonic()
        await self._callback(call, "in-progress")
        answer = self._call_params(call)
        if call.params.get("MachineDetection"):
            answer.update({"AnsweredBy": "human", "MachineDetectionDuration": "1200"})
        try:
            response = await self.webhook(call.params["Url"], answer)
            response.raise_for_status()
            if outcome == "answer-hangup":
                await asyncio.sleep(self.ring_s)
                await self._end(call, "completed")
                return
            await self.connect_stream(call, response.text)
        except Exception:
            call.ended.set()
            call.end_time, call.duration = datetime.now(UTC), 0
            await self._callback(call, "failed", CallDuration="0")
            return
        await self._answered.put(call)
        assert call.stream is not None
        await call.stream.closed.wait()  # the server closing the stream ends the <Connect>, and the call
        await self._end(call, "completed")

    async def _end(self, call: FakeCall, status: str) -> None:
        if call.ended.is_set():
            return
        call.ended.set()
        if call.stream is not None:
            await call.stream.stop()
        duration = round(time.monotonic() - call.answered_at) if call.answered_at else 0
        call.end_time, call.duration = datetime.now(UTC), duration
        if call.direction == "outbound":
            await self._callback(call, status, CallDuration=str(duration))
        else:
            call.status = status


def _when(value: str) -> tuple[datetime, bool] | None:
    """A ``StartTime`` filter value: a date (the whole day, True) or an ISO 8601 time; None if neither."""
    try:
        if len(value) == 10:
            return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC), True
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)), False


def parse_stream(twiml: str) -> tuple[str, dict[str, str]]:
    """The ``<Connect><Stream url>`` of a TwiML answer and its ``<Parameter>`` values."""
    root = ET.fromstring(twiml)  # noqa: S314 - our own server's TwiML
    stream = root.find("./Connect/Stream")
    if stream is None or not stream.get("url", "").startswith(("ws://", "wss://")):
        raise ValueError(f"no <Connect><Stream url='ws...'> in {twiml!r}")
    parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return stream.get("url", ""), parameters
