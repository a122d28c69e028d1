"""Twilio's side of a Media Streams WebSocket (shared/reference/protocols.md 1.4), as a client.

It connects to the stream URL of a ``<Connect><Stream>``, sends ``connected`` then ``start`` (with
the ``<Parameter>`` values as ``customParameters``), then one ``media`` message of 160 μ-law bytes
every 20 ms, paced in real time: the caller's speech when there is some, else μ-law silence
(``0xFF``). ``sequenceNumber`` counts every message from ``start`` on, ``chunk`` and ``timestamp``
count the media, all as strings, as Twilio sends them.

What the server sends back is checked (``streamSid`` must be this stream's, events must be known,
payloads base64) and kept: the agent's audio with its arrival time, every message. Playback is
simulated like Twilio does it: the audio queues and plays in real time; a ``mark`` is echoed once
the audio queued before it has played, and at once when a ``clear`` flushes the queue.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import websockets

FRAME_MS = 20
FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
MULAW_SILENCE = b"\xff" * FRAME_BYTES


def sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass
class Heard:
    at: float
    audio: bytes  # μ-law


@dataclass
class StreamResult:
    heard: list[Heard] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # every message, with "at"
    marks_echoed: list[str] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None

    def agent_audio(self, since: float = 0.0) -> bytes:
        return b"".join(h.audio for h in self.heard if h.at >= since)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("event") == name]


class MediaStreamClient:
    def __init__(
        self,
        url: str,
        *,
        account_sid: str,
        call_sid: str,
        custom_parameters: dict[str, str],
        stream_sid: str | None = None,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.open_timeout_s = open_timeout_s
        self.account_sid, self.call_sid = account_sid, call_sid
        self.stream_sid = stream_sid or sid("MZ")
        self.custom_parameters = custom_parameters
        self.result = StreamResult()
        self.spoke_at: list[float] = []
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sequence = 0
        self._chunk = 0
        self._play_end = 0.0  # when the audio queued so far will have played
        self._pending_marks: dict[str, asyncio.TimerHandle] = {}  # name → its echo, due when its audio has played
        self._send_lock = asyncio.Lock()
        self.closed = asyncio.Event()
        self.stopped = False

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def connect(self) -> MediaStreamClient:
        self._ws = await websockets.connect(self.url, max_size=None, open_timeout=self.open_timeout_s)
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"}, numbered=False)
        await self._send(
            {
                "event": "start",
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": self.custom_parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
                "streamSid": self.stream_sid,
            }
        )
        self._tasks = [asyncio.create_task(self._mic()), asyncio.create_task(self._listen())]
        return self

    async def __aenter__(self) -> MediaStreamClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """The call ended on Twilio's side: ``stop``, then the socket closes."""
        if not self.stopped and not self.closed.is_set():
            self.stopped = True
            with contextlib.suppress(Exception):
                await self._send(
                    {
                        "event": "stop",
                        "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                        "streamSid": self.stream_sid,
                    }
                )
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        self.closed.set()

    async def wait_closed(self, timeout_s: float = 30.0) -> bool:
        try:
            await asyncio.wait_for(self.closed.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    # --- what the caller does ----------------------------------------------------------------------------------

    def say_mulaw(self, audio: bytes) -> None:
        """Queue μ-law 8 kHz speech; it goes out frame by frame in real time after what is queued."""
        self.spoke_at.append(time.monotonic() + self._outgoing.qsize() * FRAME_MS / 1000)
        for i in range(0, len(audio), FRAME_BYTES):
            self._outgoing.put_nowait(audio[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff"))

    async def finished_speaking(self) -> None:
        await asyncio.sleep((self._outgoing.qsize() + 1) * FRAME_MS / 1000)

    async def press(self, digits: str, gap_s: float = 0.15) -> None:
        for digit in digits:
            await self._send(
                {"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}}
            )
            await asyncio.sleep(gap_s)

    async def wait_for_agent(self, *, quiet_s: float = 1.2, timeout_s: float = 30.0) -> bool:
        """Until the agent has spoken (after now) and then been silent for ``quiet_s``."""
        start, deadline = time.monotonic(), time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            last = self.result.heard[-1].at if self.result.heard else None
            if last is not None and last > start and time.monotonic() - last >= quiet_s:
                return True
            if self.closed.is_set():
                return False
            await asyncio.sleep(0.05)
        return False

    # --- the wire ----------------------------------------------------------------------------------------------

    async def _send(self, message: dict[str, Any], *, numbered: bool = True) -> None:
        async with self._send_lock:
            if numbered:
                self._sequence += 1
                message = {"event": message["event"], "sequenceNumber": str(self._sequence), **message}
            await self._ws.send(json.dumps(message))

    async def _mic(self) -> None:
        next_at = time.monotonic()
        started = next_at
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                frame = self._outgoing.get_nowait() if not self._outgoing.empty() else MULAW_SILENCE
                self._chunk += 1
                await self._send(
                    {
                        "event": "media",
                        "media": {
                            "track": "inbound",
                            "chunk": str(self._chunk),
                            "timestamp": str(round((next_at - started) * 1000)),
                            "payload": base64.b64encode(frame).decode(),
                        },
                        "streamSid": self.stream_sid,
                    }
                )
                next_at += FRAME_MS / 1000
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _listen(self) -> None:
        try:
            async for raw in self._ws:
                self._receive(raw)
        except websockets.ConnectionClosed:
            pass
        finally:
            for echo in self._pending_marks.values():
                echo.cancel()
            self._pending_marks.clear()
            self.result.close_code = self._ws.close_code
            self.result.close_reason = self._ws.close_reason
            self.closed.set()

    def _receive(self, raw: str | bytes) -> None:
        now = time.monotonic()
        if isinstance(raw, bytes):
            self.result.protocol_errors.append("binary frame: Twilio takes JSON text only")
            return
        try:
            message = json.loads(raw)
        except ValueError:
            self.result.protocol_errors.append(f"not JSON: {raw[:80]!r}")
            return
        self.result.messages.append({**message, "at": now})
        event = message.get("event")
        if event not in ("media", "mark", "clear"):
            self.result.protocol_errors.append(f"unknown event {event!r}")
            return
        if message.get("streamSid") != self.stream_sid:
            self.result.protocol_errors.append(f"{event} for stream {message.get('streamSid')!r}")
            return
        if event == "media":
            try:
                audio = base64.b64decode(message["media"]["payload"], validate=True)
            except (KeyError, TypeError, ValueError):
                self.result.protocol_errors.append("media without a base64 payload")
                return
            self.result.heard.append(Heard(at=now, audio=audio))
            self._play_end = max(self._play_end, now) + len(audio) / 8000
        elif event == "mark":
            name = (message.get("mark") or {}).get("name")
            if not isinstance(name, str):
                self.result.protocol_errors.append("mark without a name")
                return
            # A timer per mark, not a poll: a test or benchmark runs many of these clients at once.
            delay = max(0.0, self._play_end - now)
            self._pending_marks[name] = asyncio.get_running_loop().call_later(delay, self._played, name)
        elif event == "clear":
            self._play_end = now
            flushed, self._pending_marks = self._pending_marks, {}
            for name, echo in flushed.items():
                echo.cancel()
                self._echo(name)

    def _played(self, name: str) -> None:
        if self._pending_marks.pop(name, None) is not None:
            self._echo(name)

    def _echo(self, name: str) -> None:
        self.result.marks_echoed.append(name)
        task = asyncio.create_task(self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}}))
        self._tasks.append(task)
