"""A simulated caller: it talks to an agent through the same web media line a browser uses.

It keeps a microphone stream going in real time (20 ms frames, silence between its lines, as a real
mic would), speaks each line with the local TTS voice, and waits for the agent to answer and fall
silent before the next line. Everything it hears and when is kept, so tests can check what the agent
said, how long it took, and how fast it stopped when talked over.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from bvrai.voice.caller_speech import synthesize
from bvrai.voice.web_serializer import WEB_SAMPLE_RATE

FRAME_MS = 20
FRAME_BYTES = WEB_SAMPLE_RATE * 2 * FRAME_MS // 1000
SILENCE = b"\x00" * FRAME_BYTES


@dataclass
class Heard:
    """A chunk of agent audio and when it arrived (monotonic seconds)."""

    at: float
    audio: bytes


@dataclass
class Simulation:
    call_id: str
    heard: list[Heard] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    spoke_at: list[float] = field(default_factory=list)  # when each caller line started

    def agent_audio(self) -> bytes:
        return b"".join(h.audio for h in self.heard)

    def last_audio_at(self) -> float | None:
        return self.heard[-1].at if self.heard else None


class SimulatedCaller:
    def __init__(self, *, websocket_url: str, token: str, call_id: str) -> None:
        self.url = f"{websocket_url}?token={token}"
        self.result = Simulation(call_id=call_id)
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._ws: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> SimulatedCaller:
        self._ws = await websockets.connect(self.url, max_size=None)
        self._tasks = [asyncio.create_task(self._mic()), asyncio.create_task(self._listen())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await self._ws.close()

    async def _mic(self) -> None:
        """Send one 20 ms frame every 20 ms: the next frame of speech, or silence."""
        next_at = time.monotonic()
        while True:
            frame = self._outgoing.get_nowait() if not self._outgoing.empty() else SILENCE
            await self._ws.send(frame)
            next_at += FRAME_MS / 1000
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _listen(self) -> None:
        async for message in self._ws:
            if isinstance(message, bytes):
                self.result.heard.append(Heard(at=time.monotonic(), audio=message))
            else:
                self.result.messages.append({**json.loads(message), "at": time.monotonic()})

    async def send_message(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    def say_audio(self, pcm: bytes) -> None:
        self.result.spoke_at.append(time.monotonic() + self._outgoing.qsize() * FRAME_MS / 1000)
        for i in range(0, len(pcm), FRAME_BYTES):
            self._outgoing.put_nowait(pcm[i : i + FRAME_BYTES].ljust(FRAME_BYTES, b"\x00"))

    async def say(self, text: str) -> None:
        self.say_audio(await asyncio.to_thread(synthesize, text))

    async def finished_speaking(self) -> None:
        await asyncio.sleep((self._outgoing.qsize() + 1) * FRAME_MS / 1000)

    async def wait_for_agent(self, *, quiet_s: float = 1.2, timeout_s: float = 30.0) -> bool:
        """Wait until the agent has spoken (after now) and then been silent for ``quiet_s``."""
        start, deadline = time.monotonic(), time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            last = self.result.last_audio_at()
            if last is not None and last > start and time.monotonic() - last >= quiet_s:
                return True
            await asyncio.sleep(0.05)
        return False

    @property
    def closed(self) -> bool:
        return bool(self._ws is None or self._ws.close_code is not None)


async def start_call(
    http: httpx.AsyncClient, *, agent_id: str, variables: dict[str, str] | None = None
) -> dict[str, Any]:
    r = await http.post("/v1/web-calls", json={"agent_id": agent_id, "variables": variables or {}})
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


async def wait_until_ended(http: httpx.AsyncClient, call_id: str, *, timeout_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        call: dict[str, Any] = (await http.get(f"/v1/calls/{call_id}")).json()
        if call["status"] not in ("queued", "ringing", "in-progress") or time.monotonic() > deadline:
            return call
        await asyncio.sleep(0.2)


async def converse(
    http: httpx.AsyncClient,
    *,
    agent_id: str,
    lines: list[str],
    variables: dict[str, str] | None = None,
    after_turn: Callable[[int], Awaitable[None]] | None = None,
) -> tuple[Simulation, dict[str, Any], dict[str, Any]]:
    """Hold a whole conversation: greeting, each line and its answer, hang up; the call and transcript.

    ``after_turn(n)`` runs once the agent answered line ``n`` (1-based): tests use it to change the
    world mid-call, e.g. break a provider."""
    started = await start_call(http, agent_id=agent_id, variables=variables)
    caller = SimulatedCaller(
        websocket_url=started["websocket_url"], token=started["token"], call_id=started["call"]["id"]
    )
    async with caller:
        await caller.wait_for_agent(timeout_s=20)
        for turn, line in enumerate(lines, 1):
            await caller.say(line)
            await caller.finished_speaking()
            await caller.wait_for_agent()
            if after_turn is not None:
                await after_turn(turn)
    call_id = started["call"]["id"]
    call = await wait_until_ended(http, call_id)
    transcript = (await http.get(f"/v1/calls/{call_id}/transcript")).json()
    return caller.result, call, transcript
