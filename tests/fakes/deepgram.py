"""A fake Deepgram live transcription server: ``GET /v1/listen`` upgraded to a WebSocket.

It speaks the protocol of shared/reference/protocols.md section 3: ``Authorization: Token <key>`` (or
``Bearer``, or the ``token, <key>`` subprotocol) checked at the handshake, which is refused with the
real HTTP status, ``dg-error`` header and ``err_code`` body; query parameters read and checked; binary
audio in the declared encoding; ``Results`` (interim, then ``is_final``/``speech_final``),
``SpeechStarted``, ``UtteranceEnd``, ``Metadata``; ``KeepAlive``, ``Finalize`` and ``CloseStream``
control messages; the ``NET-0001`` close after 10 s with neither audio nor KeepAlive.

What was "said" is scripted: ``fake.say("book a table", ...)`` queues utterances. The fake finds
speech by energy in the audio (20 ms frames louder than ``speech_rms``); when a burst of speech is
followed by ``endpointing`` ms of silence (of audio time, not wall time, so tests can send audio
faster than real time) it finalises the burst with the next scripted utterance. Interim results
reveal the utterance word by word while the burst lasts. A burst with nothing scripted finalises
with an empty transcript, which is what Deepgram sends for noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.audio import rms, to_pcm16
from tests.fakes.server import Failure, FakeService, request_id

ENCODINGS = {"linear16", "linear32", "flac", "alaw", "mulaw", "amr-nb", "amr-wb", "opus", "ogg-opus", "speex", "g729"}
MODEL_FAMILIES = ("nova-3", "nova-2", "nova", "enhanced", "base", "whisper")
MODEL_UUID = "40bd3654-1a2b-4c5d-8e9f-0123456789ab"
BOOLEAN_PARAMS = (
    "interim_results",
    "punctuate",
    "smart_format",
    "numerals",
    "profanity_filter",
    "diarize",
    "filler_words",
    "dictation",
    "multichannel",
    "vad_events",
    "detect_entities",
    "mip_opt_out",
)
FRAME_MS = 20


@dataclass
class ListenSession:
    """One live connection's state, kept for assertions after it closes."""

    query: dict[str, str]
    headers: dict[str, str]
    request_id: str
    encoding: str | None
    sample_rate: int
    interim_results: bool
    endpointing_ms: int | None  # None: endpointing=false
    utterance_end_ms: int | None
    vad_events: bool
    audio_bytes: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)
    messages_sent: list[dict[str, Any]] = field(default_factory=list)
    control_received: list[str] = field(default_factory=list)
    close_code: int | None = None
    # speech tracking, in seconds of audio
    samples_seen: int = 0
    pending_pcm: bytes = b""
    in_speech: bool = False
    speech_start: float = 0.0
    speech_frames: int = 0
    silence_ms: int = 0
    last_interim_words: int = 0
    utterance: list[str] | None = None
    last_word_end: float | None = None
    utterance_end_due: float | None = None

    @property
    def audio_seconds(self) -> float:
        return self.samples_seen / self.sample_rate if self.sample_rate else 0.0


class DeepgramFake(FakeService):
    name = "deepgram"

    def __init__(
        self,
        *,
        api_key: str = "dg-test-key",
        speech_rms: float = 300.0,
        endpointing_floor_ms: int = 100,
        interim_every_ms: int = 200,
        inactivity_timeout: float = 10.0,
        data_error_close_code: int = 1008,
    ) -> None:
        super().__init__(api_key=api_key)
        self.utterances: deque[str] = deque()
        self.sessions: list[ListenSession] = []
        self.speech_rms = speech_rms
        # Deepgram's default endpointing is 10 ms, which splits synthetic test audio on every gap.
        self.endpointing_floor_ms = endpointing_floor_ms
        self.interim_every_ms = interim_every_ms
        self.inactivity_timeout = inactivity_timeout
        # DATA-0000 is 1008 in current docs and 1002 in older ones (protocols.md 9: Verify).
        self.data_error_close_code = data_error_close_code

    def say(self, *utterances: str) -> None:
        """Queue what the caller will be heard saying, one utterance per burst of speech."""
        self.utterances.extend(utterances)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/listen", self.listen)

    async def error_response(self, request: web.Request) -> web.StreamResponse:
        return self._refuse(503, "INTERNAL_SERVER_ERROR", "Service unavailable, please retry.")

    # --- handshake ---------------------------------------------------------------------------------------------

    def _refuse(self, status: int, err_code: str, err_msg: str) -> web.Response:
        rid = request_id()
        body = {"err_code": err_code, "err_msg": err_msg, "request_id": rid}
        return web.json_response(body, status=status, headers={"dg-error": err_msg, "dg-request-id": rid})

    def _authorised(self, request: web.Request) -> tuple[bool, str | None]:
        """(credentials valid, subprotocol to echo)."""
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip() == self.api_key:
            return True, None
        # Browsers cannot set headers: ``Sec-WebSocket-Protocol: token, <key>``.
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if len(protocols) == 2 and protocols[0] == "token" and protocols[1] == self.api_key:
            return True, "token"
        return False, None

    def _check_query(self, query: dict[str, str]) -> str | None:
        model = query.get("model", "base")
        if not model.startswith(MODEL_FAMILIES):
            return "No such model/language/tier combination found."
        encoding = query.get("encoding")
        if encoding is not None:
            if encoding not in ENCODINGS:
                return f"Invalid query string. Unknown encoding: {encoding}"
            sample_rate = query.get("sample_rate")
            if sample_rate is None:
                return "Invalid query string. sample_rate is required when encoding is set."
            if not sample_rate.isdigit() or int(sample_rate) <= 0:
                return f"Invalid query string. Invalid sample_rate: {sample_rate}"
        for name in BOOLEAN_PARAMS:
            if name in query and query[name] not in ("true", "false"):
                return f"Invalid query string. {name} must be true or false."
        endpointing = query.get("endpointing")
        if endpointing is not None and endpointing != "false" and not endpointing.isdigit():
            return f"Invalid query string. Invalid endpointing: {endpointing}"
        channels = query.get("channels", "1")
        if not channels.isdigit() or int(channels) < 1:
            return f"Invalid query string. Invalid channels: {channels}"
        return None

    async def listen(self, request: web.Request) -> web.StreamResponse:
        ok, subprotocol = self._authorised(request)
        if not ok:
            await self.record(request)
            return self._refuse(401, "INVALID_AUTH", "Invalid credentials.")
        query = dict(request.query)
        problem = self._check_query(query)
        if problem:
            await self.record(request)
            return self._refuse(400, "Bad Request", problem)
        if "sample_rate" not in query and "encoding" not in query:
            # Containerised audio (WAV/Ogg) is not something the fake decodes.
            query.setdefault("encoding", "linear16")
        endpointing = query.get("endpointing")
        session = ListenSession(
            query=dict(request.query),
            headers=dict(request.headers),
            request_id=request_id(),
            encoding=query.get("encoding"),
            sample_rate=int(query.get("sample_rate", "16000")),
            interim_results=query.get("interim_results") == "true",
            endpointing_ms=None if endpointing == "false" else int(endpointing or 10),
            utterance_end_ms=int(query["utterance_end_ms"]) if query.get("utterance_end_ms", "").isdigit() else None,
            vad_events=query.get("vad_events") == "true",
        )
        self.sessions.append(session)
        await self.record(request)

        ws = web.WebSocketResponse(protocols=[subprotocol] if subprotocol else (), autoping=True)
        ws.headers["dg-request-id"] = session.request_id
        await ws.prepare(request)
        self.track(ws)
        try:
            await self._serve(request, ws, session)
        finally:
            self.untrack(ws)
            if session.close_code is None:
                session.close_code = ws.close_code
        return ws

    # --- the live stream ---------------------------------------------------------------------------------------

    async def _send(self, ws: web.WebSocketResponse, session: ListenSession, message: dict[str, Any]) -> None:
        if self.failure is Failure.STALL:
            return  # a stalled server keeps reading and never answers
        session.messages_sent.append(message)
        await ws.send_str(json.dumps(message))

    async def _serve(self, request: web.Request, ws: web.WebSocketResponse, session: ListenSession) -> None:
        while True:
            if self.failure is Failure.ERROR:
                await self._close(ws, session, 1011, b"NET-0000")
                return
            if self.failure is Failure.DROP:
                if request.transport is not None:
                    request.transport.abort()
                return
            try:
                msg = await asyncio.wait_for(self._receive_or_switch(ws), self.inactivity_timeout)
            except TimeoutError:
                await self._close(ws, session, 1011, b"NET-0001")
                return
            if msg is None:  # the failure switch moved: act on it at the top of the loop
                continue
            if msg.type == WSMsgType.BINARY:
                if not msg.data:
                    # A zero-length binary frame means end of stream, like CloseStream.
                    await self._close_stream(ws, session)
                    return
                if not await self._audio(ws, session, msg.data):
                    return
            elif msg.type == WSMsgType.TEXT:
                done = await self._control(ws, session, msg.data)
                if done:
                    return
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                return

    async def _receive_or_switch(self, ws: web.WebSocketResponse) -> Any:
        """The next message, or ``None`` when the failure switch moved first."""
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

    async def _control(self, ws: web.WebSocketResponse, session: ListenSession, text: str) -> bool:
        try:
            message = json.loads(text)
            kind = message.get("type") if isinstance(message, dict) else None
        except ValueError:
            kind = None
        session.control_received.append(str(kind))
        if kind == "KeepAlive":
            return False
        if kind == "Finalize":
            await self._end_utterance(ws, session, from_finalize=True)
            return False
        if kind == "CloseStream":
            await self._close_stream(ws, session)
            return True
        # Anything else is not audio and not a known control message.
        await self._close(ws, session, self.data_error_close_code, b"DATA-0000")
        return True

    async def _close_stream(self, ws: web.WebSocketResponse, session: ListenSession) -> None:
        await self._end_utterance(ws, session, from_finalize=False)
        await self._send(
            ws,
            session,
            {
                "type": "Metadata",
                "transaction_key": "deprecated",
                "request_id": session.request_id,
                "sha256": session.sha256.hexdigest(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "duration": round(session.audio_seconds, 3),
                "channels": int(session.query.get("channels", "1")),
                "models": [MODEL_UUID],
                "model_info": {MODEL_UUID: self._model_info(session)},
            },
        )
        await self._close(ws, session, 1000, b"")

    async def _close(self, ws: web.WebSocketResponse, session: ListenSession, code: int, reason: bytes) -> None:
        session.close_code = code
        await ws.close(code=code, message=reason)

    def _model_info(self, session: ListenSession) -> dict[str, str]:
        model = session.query.get("model", "base")
        return {"name": f"general-{model}", "version": "2024-12-20.0", "arch": model.split("-general")[0]}

    async def _audio(self, ws: web.WebSocketResponse, session: ListenSession, data: bytes) -> bool:
        session.audio_bytes += len(data)
        session.sha256.update(data)
        pcm = to_pcm16(data, session.encoding or "linear16")
        if pcm is None:
            session.samples_seen += len(data)  # unknown codec: time only roughly tracked
            return True
        session.pending_pcm += pcm
        frame_bytes = session.sample_rate * FRAME_MS // 1000 * 2
        while len(session.pending_pcm) >= frame_bytes:
            frame, session.pending_pcm = session.pending_pcm[:frame_bytes], session.pending_pcm[frame_bytes:]
            session.samples_seen += frame_bytes // 2
            await self._frame(ws, session, loud=rms(frame) >= self.speech_rms)
        return True

    async def _frame(self, ws: web.WebSocketResponse, session: ListenSession, *, loud: bool) -> None:
        now = session.audio_seconds
        if loud:
            session.silence_ms = 0
            if not session.in_speech:
                session.in_speech = True
                session.speech_start = now - FRAME_MS / 1000
                session.speech_frames = 0
                session.last_interim_words = 0
                session.utterance = self.utterances.popleft().split() if self.utterances else []
                session.utterance_end_due = None
                if session.vad_events:
                    await self._send(
                        ws, session, {"type": "SpeechStarted", "channel": [0, 1], "timestamp": round(now, 3)}
                    )
            session.speech_frames += 1
            if session.interim_results and session.utterance:
                await self._maybe_interim(ws, session)
            return
        if session.in_speech:
            session.silence_ms += FRAME_MS
            if session.endpointing_ms is not None:
                limit = max(session.endpointing_ms, self.endpointing_floor_ms)
            else:
                limit = max(self.endpointing_floor_ms, 500)
            if session.silence_ms >= limit:
                await self._end_utterance(ws, session, from_finalize=False)
        elif session.utterance_end_due is not None and now >= session.utterance_end_due:
            await self._send(
                ws,
                session,
                {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": round(session.last_word_end or 0.0, 3)},
            )
            session.utterance_end_due = None

    async def _maybe_interim(self, ws: web.WebSocketResponse, session: ListenSession) -> None:
        words = session.utterance or []
        speech_ms = session.speech_frames * FRAME_MS
        if speech_ms % self.interim_every_ms:
            return
        # Reveal the words gradually, never the whole utterance before it is final.
        shown = min(len(words) - 1, max(1, math.ceil(len(words) * speech_ms / 1500)))
        if shown <= session.last_interim_words:
            return
        session.last_interim_words = shown
        await self._send(ws, session, self._results(session, words[:shown], is_final=False, speech_final=False))

    async def _end_utterance(self, ws: web.WebSocketResponse, session: ListenSession, *, from_finalize: bool) -> None:
        if not session.in_speech:
            if from_finalize:
                await self._send(
                    ws, session, self._results(session, [], is_final=True, speech_final=False, from_finalize=True)
                )
            return
        words = session.utterance or []
        speech_final = session.endpointing_ms is not None and not from_finalize
        message = self._results(session, words, is_final=True, speech_final=speech_final, from_finalize=from_finalize)
        await self._send(ws, session, message)
        session.in_speech = False
        session.utterance = None
        if words:
            session.last_word_end = message["channel"]["alternatives"][0]["words"][-1]["end"]
            if session.interim_results and session.utterance_end_ms:
                session.utterance_end_due = session.last_word_end + session.utterance_end_ms / 1000

    def _results(
        self,
        session: ListenSession,
        words: list[str],
        *,
        is_final: bool,
        speech_final: bool,
        from_finalize: bool = False,
    ) -> dict[str, Any]:
        start = session.speech_start if session.in_speech else session.audio_seconds
        speech_end = start + session.speech_frames * FRAME_MS / 1000 if session.in_speech else start
        duration = max(0.0, session.audio_seconds - start)
        span = max(speech_end - start, 0.02)
        step = span / max(len(words), 1)
        word_items = [
            {
                "word": w.strip(".,!?;:").lower(),
                "start": round(start + i * step, 3),
                "end": round(start + (i + 1) * step, 3),
                "confidence": 0.99,
                "punctuated_word": w,
            }
            for i, w in enumerate(words)
        ]
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(duration, 3),
            "start": round(start, 3),
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [
                    {
                        "transcript": " ".join(words),
                        "confidence": 0.99 if words else 0.0,
                        "languages": [session.query.get("language", "en").split("-")[0]],
                        "words": word_items,
                    }
                ]
            },
            "metadata": {
                "request_id": session.request_id,
                "model_info": self._model_info(session),
                "model_uuid": MODEL_UUID,
            },
        }
