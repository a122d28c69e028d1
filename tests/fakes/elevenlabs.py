"""A fake ElevenLabs text-to-speech server: the WebSocket ``multi-stream-input`` endpoint pipecat's
``ElevenLabsTTSService`` uses, the single-context ``stream-input`` one, and the HTTP ``stream`` /
``stream/with-timestamps`` endpoints of ``ElevenLabsHttpTTSService``.

Protocol as in shared/reference/protocols.md section 4: ``xi-api-key`` on the upgrade or the request
(or, on the WebSockets, in the first message), ``output_format`` deciding the audio (PCM 16-bit
little-endian, μ-law or A-law at the format's rate), base64 audio messages with character
``alignment`` whose times are relative to each chunk, ``isFinal`` when a context closes, the
per-context first message that alone may carry ``voice_settings``, ``flush``, ``close_context``,
``close_socket``, keep-alives, and the inactivity close after ``inactivity_timeout`` seconds.

The audio is a tone, ``ms_per_char`` milliseconds per character (divided by the voice's ``speed``):
adapter tests need audio of the right format and a length that follows the text, not speech.

Configurable where the reference says **Verify**: how a bad key is refused on a WebSocket
(``ws_auth_failure="close"``: the upgrade succeeds and the socket is closed with 1008 and a reason;
``"http"``: the upgrade is refused with 401).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

from tests.fakes.audio import encode, tone
from tests.fakes.server import Dropped, Failure, FakeService, read_json, request_id

OUTPUT_FORMATS = {
    "mp3_22050_32",
    "mp3_24000_48",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_32000",
    "pcm_44100",
    "pcm_48000",
    "ulaw_8000",
    "alaw_8000",
    "opus_48000_32",
    "opus_48000_64",
    "opus_48000_96",
    "opus_48000_128",
    "opus_48000_192",
}
DEFAULT_SCHEDULE = [120, 160, 250, 290]
INACTIVITY_MESSAGE = (
    "Have not received a new text input within the timeout of {n} seconds. Streaming input terminated. Please make "
    'sure to either feed the input in the timely manner, or to send the end of input text (empty string "") when '
    "done."
)


@dataclass
class Context:
    context_id: str
    voice_settings: dict[str, Any] | None = None
    buffer: str = ""
    text_received: str = ""
    schedule_step: int = 0
    audio_bytes: int = 0


@dataclass
class StreamSession:
    """One WebSocket connection, kept for assertions."""

    path: str
    voice_id: str
    query: dict[str, str]
    multi: bool
    messages: list[dict[str, Any]] = field(default_factory=list)
    contexts: dict[str, Context] = field(default_factory=dict)
    closed_contexts: list[str] = field(default_factory=list)
    close_code: int | None = None

    @property
    def text(self) -> str:
        """All the text this connection was asked to speak, in order received."""
        return "".join(m.get("text", "") for m in self.messages if isinstance(m.get("text"), str)).strip()


class ElevenLabsFake(FakeService):
    name = "elevenlabs"

    def __init__(
        self,
        *,
        api_key: str = "xi-test-key",
        voices: Iterable[str] | None = None,
        ms_per_char: float = 40.0,
        chunk_delay: float = 0.002,
        ws_auth_failure: Literal["close", "http"] = "close",
    ) -> None:
        super().__init__(api_key=api_key)
        self.voices = set(voices) if voices is not None else None  # None: any voice id exists
        self.ms_per_char = ms_per_char
        self.chunk_delay = chunk_delay
        self.ws_auth_failure = ws_auth_failure
        self.sessions: list[StreamSession] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/text-to-speech/{voice_id}/multi-stream-input", self.multi_stream_input)
        app.router.add_get("/v1/text-to-speech/{voice_id}/stream-input", self.stream_input)
        app.router.add_post("/v1/text-to-speech/{voice_id}/stream/with-timestamps", self.http_with_timestamps)
        app.router.add_post("/v1/text-to-speech/{voice_id}/stream", self.http_stream)
        app.router.add_post("/v1/text-to-speech/{voice_id}", self.http_stream)

    async def error_response(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"detail": {"status": "system_busy", "message": "Our services are experiencing high traffic."}}, status=503
        )

    # --- shared --------------------------------------------------------------------------------------------------

    @staticmethod
    def _detail(status: int, code: str, message: str) -> web.Response:
        return web.json_response(
            {"detail": {"status": code, "message": message}}, status=status, headers={"request-id": request_id()}
        )

    def _format_problem(self, output_format: str) -> str | None:
        if output_format not in OUTPUT_FORMATS:
            return f"Invalid output format: {output_format}"
        if not output_format.startswith(("pcm_", "ulaw_", "alaw_")):
            return f"the fake cannot encode {output_format}"  # a limit of the fake, not of the service
        return None

    def _voice_problem(self, voice_id: str) -> str | None:
        if self.voices is not None and voice_id not in self.voices:
            return f"A voice with the voice_id {voice_id} was not found."
        return None

    def _audio(self, text: str, output_format: str, speed: float) -> tuple[bytes, list[float], list[float]]:
        """Audio for ``text`` and per-character (start, duration) in milliseconds from the chunk start."""
        codec, rate = output_format.split("_")[:2]
        per_char = self.ms_per_char / max(speed, 0.1)
        starts = [round(i * per_char, 1) for i in range(len(text))]
        durations = [round(per_char, 1)] * len(text)
        pcm = tone(len(text) * per_char / 1000, int(rate))
        return encode(pcm, codec), starts, durations

    # --- WebSockets -----------------------------------------------------------------------------------------------

    async def multi_stream_input(self, request: web.Request) -> web.StreamResponse:
        return await self._websocket(request, multi=True)

    async def stream_input(self, request: web.Request) -> web.StreamResponse:
        return await self._websocket(request, multi=False)

    async def _websocket(self, request: web.Request, *, multi: bool) -> web.StreamResponse:
        voice_id = request.match_info["voice_id"]
        query = dict(request.query)
        session = StreamSession(path=request.path, voice_id=voice_id, query=query, multi=multi)
        self.sessions.append(session)
        await self.record(request)
        header_key = request.headers.get("xi-api-key")
        if header_key is not None and header_key != self.api_key and self.ws_auth_failure == "http":
            return self._detail(401, "invalid_api_key", "Invalid API key")
        output_format = query.get("output_format", "mp3_44100_128")

        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        self.track(ws)
        try:
            if header_key is not None and header_key != self.api_key:
                await self._close(ws, session, 1008, "invalid_api_key: Invalid API key")
                return ws
            problem = self._format_problem(output_format) or self._voice_problem(voice_id)
            if problem:
                await self._close(ws, session, 1008, problem)
                return ws
            await self._serve(request, ws, session, output_format, authorised=header_key is not None)
        finally:
            self.untrack(ws)
        return ws

    async def _close(self, ws: web.WebSocketResponse, session: StreamSession, code: int, reason: str) -> None:
        session.close_code = code
        with contextlib.suppress(Exception):
            await ws.send_str(json.dumps({"message": reason, "error": reason.split(":")[0], "code": code}))
        await ws.close(code=code, message=reason.encode()[:120])

    async def _serve(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        session: StreamSession,
        output_format: str,
        *,
        authorised: bool,
    ) -> None:
        timeout = float(session.query.get("inactivity_timeout", "20"))
        auto_mode = session.query.get("auto_mode") == "true"
        while True:
            if self.failure is Failure.ERROR:
                await self._close(ws, session, 1011, "internal_error: An internal server error occurred.")
                return
            if self.failure is Failure.DROP:
                if request.transport is not None:
                    request.transport.abort()
                return
            try:
                msg = await asyncio.wait_for(self._receive_or_switch(ws), timeout)
            except TimeoutError:
                await self._close(ws, session, 1008, INACTIVITY_MESSAGE.format(n=int(timeout)))
                return
            if msg is None:
                continue
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    await self._close(ws, session, 1008, "invalid_input_message: Could not parse input message.")
                return
            try:
                data = json.loads(msg.data)
                if not isinstance(data, dict):
                    raise ValueError
            except ValueError:
                await self._close(
                    ws,
                    session,
                    1008,
                    "invalid_input_message: Could not parse input message, make sure it is a json and follows "
                    "the schema outlined in protocol.",
                )
                return
            session.messages.append(data)
            if not authorised:
                key = data.get("xi-api-key") or data.get("xi_api_key")
                if key != self.api_key:
                    await self._close(ws, session, 1008, "invalid_api_key: Invalid API key")
                    return
                authorised = True
            if data.get("close_socket"):
                for context_id in list(session.contexts):
                    await self._finish_context(ws, session, context_id)
                await ws.close(code=1000)
                session.close_code = 1000
                return
            context_id = str(data.get("context_id") or "default") if session.multi else "default"
            if not session.multi and data.get("text") == "":
                # End of input on the single-context socket: speak what is left, say so, close.
                if context_id in session.contexts:
                    await self._generate(ws, session, context_id, output_format, everything=True)
                    await self._finish_context(ws, session, context_id)
                await ws.close(code=1000)
                session.close_code = 1000
                return
            if data.get("close_context"):
                await self._finish_context(ws, session, context_id)
                continue
            context = session.contexts.get(context_id)
            text = data.get("text")
            if context is None:
                if text == "" and session.multi:
                    continue  # a keep-alive for no context in particular
                context = Context(context_id, voice_settings=data.get("voice_settings"))
                session.contexts[context_id] = context
            elif "voice_settings" in data:
                await self._close(
                    ws, session, 1008, "invalid_message: voice_settings may only be sent in a context's first message."
                )
                return
            if isinstance(text, str) and text.strip():
                context.buffer += text
                context.text_received += text
            if data.get("flush") or (auto_mode and context.buffer.strip()) or self._schedule_reached(context, data):
                await self._generate(ws, session, context_id, output_format, everything=True)

    def _schedule_reached(self, context: Context, data: dict[str, Any]) -> bool:
        schedule = ((data.get("generation_config") or {}).get("chunk_length_schedule")) or DEFAULT_SCHEDULE
        threshold = schedule[min(context.schedule_step, len(schedule) - 1)]
        if len(context.buffer) >= threshold:
            context.schedule_step += 1
            return True
        return bool(data.get("try_trigger_generation")) and len(context.buffer) >= 50

    async def _receive_or_switch(self, ws: web.WebSocketResponse) -> Any:
        receive = asyncio.ensure_future(ws.receive())
        switched = asyncio.ensure_future(self._failure_changed.wait())
        done, _ = await asyncio.wait({receive, switched}, return_when=asyncio.FIRST_COMPLETED)
        if receive in done:
            switched.cancel()
            return receive.result()
        receive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receive
        return None

    async def _generate(
        self,
        ws: web.WebSocketResponse,
        session: StreamSession,
        context_id: str,
        output_format: str,
        *,
        everything: bool,
    ) -> None:
        context = session.contexts[context_id]
        text, context.buffer = context.buffer, ""
        if not text.strip() or self.failure is Failure.STALL:
            return
        speed = float((context.voice_settings or {}).get("speed") or 1.0)
        # One audio message per ~sentence piece, each with its own alignment, times relative to the piece.
        for piece in _pieces(text):
            audio, starts, durations = self._audio(piece, output_format, speed)
            alignment = {"chars": list(piece), "charStartTimesMs": starts, "charDurationsMs": durations}
            message: dict[str, Any] = {
                "audio": base64.b64encode(audio).decode(),
                "isFinal": None,
                "normalizedAlignment": alignment,
                "alignment": alignment,
            }
            if session.multi:
                message["contextId"] = context_id
            context.audio_bytes += len(audio)
            await self.sleep(self.chunk_delay)
            if self.failure is not None:
                return
            await ws.send_str(json.dumps(message))

    async def _finish_context(self, ws: web.WebSocketResponse, session: StreamSession, context_id: str) -> None:
        if session.contexts.pop(context_id, None) is None:
            return
        session.closed_contexts.append(context_id)
        if self.failure is Failure.STALL:
            return
        message: dict[str, Any] = {"isFinal": True}
        if session.multi:
            message["contextId"] = context_id
        await ws.send_str(json.dumps(message))

    # --- HTTP ----------------------------------------------------------------------------------------------------

    async def _http_checks(self, request: web.Request) -> tuple[web.Response | None, dict[str, Any], str]:
        body = await read_json(request)
        await self.record(request, body)
        if request.headers.get("xi-api-key") != self.api_key:
            return self._detail(401, "invalid_api_key", "Invalid API key"), {}, ""
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            problem = web.json_response(
                {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "value_error.missing"}]},
                status=422,
            )
            return problem, {}, ""
        output_format = request.query.get("output_format", "mp3_44100_128")
        problem_text = self._format_problem(output_format)
        if problem_text:
            return self._detail(400, "invalid_output_format", problem_text), {}, ""
        problem_text = self._voice_problem(request.match_info["voice_id"])
        if problem_text:
            return self._detail(400, "voice_not_found", problem_text), {}, ""
        return None, body, output_format

    async def http_stream(self, request: web.Request) -> web.StreamResponse:
        problem, body, output_format = await self._http_checks(request)
        if problem:
            return problem
        speed = float((body.get("voice_settings") or {}).get("speed") or 1.0)
        audio, _, _ = self._audio(body["text"], output_format, speed)
        response = web.StreamResponse(
            headers={
                "Content-Type": "audio/mpeg" if output_format.startswith("mp3") else "application/octet-stream",
                "request-id": request_id(),
                "character-cost": str(len(body["text"])),
            }
        )
        await response.prepare(request)
        try:
            for i in range(0, len(audio), 4096):
                await self._check_stream(request, response)
                await response.write(audio[i : i + 4096])
                await self.sleep(self.chunk_delay)
            await response.write_eof()
        except Dropped:
            pass
        return response

    async def http_with_timestamps(self, request: web.Request) -> web.StreamResponse:
        problem, body, output_format = await self._http_checks(request)
        if problem:
            return problem
        speed = float((body.get("voice_settings") or {}).get("speed") or 1.0)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/json",
                "request-id": request_id(),
                "character-cost": str(len(body["text"])),
            }
        )
        await response.prepare(request)
        offset = 0.0  # seconds; these times run from the start of the whole utterance
        try:
            for piece in _pieces(body["text"]):
                audio, starts, durations = self._audio(piece, output_format, speed)
                alignment = {
                    "characters": list(piece),
                    "character_start_times_seconds": [round(offset + s / 1000, 3) for s in starts],
                    "character_end_times_seconds": [
                        round(offset + (s + d) / 1000, 3) for s, d in zip(starts, durations, strict=True)
                    ],
                }
                offset = alignment["character_end_times_seconds"][-1] if piece else offset
                await self._check_stream(request, response)
                line = {"audio_base64": base64.b64encode(audio).decode(), "alignment": alignment}
                line["normalized_alignment"] = alignment
                await response.write(json.dumps(line).encode() + b"\n")
                await self.sleep(self.chunk_delay)
            await response.write_eof()
        except Dropped:
            pass
        return response

    async def _check_stream(self, request: web.Request, response: web.StreamResponse) -> None:
        if self.failure is None:
            return
        if self.failure is Failure.STALL:
            await self.hold()
        if request.transport is not None:
            request.transport.abort()
        raise Dropped


def _pieces(text: str) -> list[str]:
    """Split text where ElevenLabs tends to cut audio chunks: after sentence punctuation."""
    pieces: list[str] = []
    current = ""
    for ch in text:
        current += ch
        if ch in ".!?;" and len(current.strip()) > 1:
            pieces.append(current)
            current = ""
    if current.strip():
        pieces.append(current)
    return pieces
