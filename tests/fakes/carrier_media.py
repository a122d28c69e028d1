"""The caller side of a carrier media WebSocket, for the carriers other than Twilio.

A subclass says how the carrier opens the stream (``opening``), wraps 20 ms of caller audio
(``media``), reads what the server sends (``receive``: agent audio, clears, anything else is a
protocol error), and how the stream ends (``closing``). The base paces the microphone in real time
(one message per 20 ms: speech when queued, else silence) and keeps what the agent said and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import websockets

FRAME_MS = 20


@dataclass
class Heard:
    at: float
    audio: bytes  # as the carrier would play it (μ-law or PCM16, per carrier)


@dataclass
class MediaResult:
    heard: list[Heard] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None

    def agent_audio(self, since: float = 0.0) -> bytes:
        return b"".join(h.audio for h in self.heard if h.at >= since)


class CarrierMediaClient:
    frame_bytes = 160
    silence = b"\xff" * 160

    def __init__(self, url: str, *, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.result = MediaResult()
        self.spoke_at: list[float] = []
        self.closed = asyncio.Event()
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self.sequence = 0

    # --- to override -------------------------------------------------------------------------------------------

    def opening(self) -> list[str | bytes]:
        return []

    def media(self, frame: bytes, chunk: int, timestamp_ms: int) -> str | bytes:
        raise NotImplementedError

    def receive(self, message: str | bytes, now: float) -> None:
        raise NotImplementedError

    def closing(self) -> list[str | bytes]:
        return []

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def connect(self) -> CarrierMediaClient:
        self._ws = await websockets.connect(self.url, max_size=None, additional_headers=self.headers)
        for message in self.opening():
            await self._ws.send(message)
        self._tasks = [asyncio.create_task(self._mic()), asyncio.create_task(self._listen())]
        return self

    async def stop(self) -> None:
        if not self.closed.is_set():
            with contextlib.suppress(Exception):
                for message in self.closing():
                    await self._ws.send(message)
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

    # --- the caller --------------------------------------------------------------------------------------------

    def say(self, audio: bytes) -> None:
        self.spoke_at.append(time.monotonic() + self._outgoing.qsize() * FRAME_MS / 1000)
        n = self.frame_bytes
        for i in range(0, len(audio), n):
            self._outgoing.put_nowait(audio[i : i + n].ljust(n, self.silence[:1]))

    async def finished_speaking(self) -> None:
        await asyncio.sleep((self._outgoing.qsize() + 1) * FRAME_MS / 1000)

    async def send_json(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def wait_for_agent(self, *, quiet_s: float = 1.0, timeout_s: float = 30.0) -> bool:
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

    async def _mic(self) -> None:
        next_at = started = time.monotonic()
        chunk = 0
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                frame = self._outgoing.get_nowait() if not self._outgoing.empty() else self.silence
                chunk += 1
                await self._ws.send(self.media(frame, chunk, round((next_at - started) * 1000)))
                next_at += FRAME_MS / 1000
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _listen(self) -> None:
        try:
            async for message in self._ws:
                self.receive(message, time.monotonic())
        except websockets.ConnectionClosed:
            pass
        finally:
            self.result.close_code = self._ws.close_code
            self.result.close_reason = self._ws.close_reason
            self.closed.set()

    def parse(self, message: str | bytes, now: float) -> dict[str, Any] | None:
        if isinstance(message, bytes):
            self.result.protocol_errors.append("unexpected binary frame")
            return None
        try:
            parsed = json.loads(message)
        except ValueError:
            self.result.protocol_errors.append(f"not JSON: {message[:60]!r}")
            return None
        if not isinstance(parsed, dict):
            self.result.protocol_errors.append("not a JSON object")
            return None
        self.result.messages.append({**parsed, "at": now})
        return parsed
