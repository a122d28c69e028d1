"""What every fake service shares: an aiohttp app on a free 127.0.0.1 port, started and stopped inside
a test's own event loop, and a failure switch that a test flips while a call is running.

The failure modes are the three ways a real provider lets a live call down:

- ``ERROR``: the service answers with its documented failure (an HTTP 5xx with the vendor's error
  body, an SSE ``error`` event mid-stream, a WebSocket close with an error code);
- ``DROP``: the TCP connection is cut with no answer at all (a crashed load balancer);
- ``STALL``: the connection stays open and nothing more arrives (the case only a timeout catches).

``fail_now()`` applies to the streams already in flight (they check the switch between chunks) and to
every new request until ``recover()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from multidict import CIMultiDict


class Failure(enum.StrEnum):
    ERROR = "error"
    DROP = "drop"
    STALL = "stall"


class Dropped(Exception):
    """Raised inside a handler once its connection has been cut, to unwind it quietly."""


@dataclass
class RecordedRequest:
    """One request as the fake received it, for assertions."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]  # case-insensitive, as HTTP headers are
    body: Any = None  # parsed JSON, form fields, or raw bytes
    files: dict[str, bytes] = field(default_factory=dict)


def request_id() -> str:
    return uuid.uuid4().hex


class FakeService:
    """Base class of the fakes: lifecycle, the failure switch, and the requests received."""

    name = "fake"

    def __init__(self, *, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.failure: Failure | None = None
        self._failure_changed = asyncio.Event()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._open_websockets: set[web.WebSocketResponse] = set()
        self.app = web.Application(middlewares=[self._failure_middleware])
        self.routes(self.app)

    # --- to override -------------------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def error_response(self, request: web.Request) -> web.StreamResponse:
        """The vendor's own answer to a request that arrives while ``fail_now(ERROR)`` is on."""
        return web.json_response({"error": "service unavailable"}, status=503)

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> Self:
        # Handlers that stall are released on stop; a short shutdown timeout bounds the rest.
        self._runner = web.AppRunner(self.app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stopping = True
        self._failure_changed.set()
        for ws in list(self._open_websockets):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001, message=b"server shutting down"), 0.5)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        assert self._port is not None, "fake not started"
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the host part of the vendor's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    # --- failure switch ----------------------------------------------------------------------------------------

    def fail_now(self, mode: Failure | str = Failure.ERROR) -> None:
        self.failure = Failure(mode)
        self._failure_changed.set()
        self._failure_changed = asyncio.Event()

    def recover(self) -> None:
        self.failure = None
        self._failure_changed.set()
        self._failure_changed = asyncio.Event()

    async def wait_while_stalled(self) -> None:
        """Hold a handler for as long as ``STALL`` is on (or until the fake stops)."""
        while self.failure is Failure.STALL and not self._stopping:
            await self._failure_changed.wait()

    async def hold(self) -> None:
        """Stall one stream: while ``STALL`` is on if it is, else (a scripted stall) until the fake stops."""
        if self.failure is Failure.STALL:
            await self.wait_while_stalled()
            return
        while not self._stopping:
            await self._failure_changed.wait()

    async def sleep(self, seconds: float) -> None:
        """Pace a stream; returns early if the failure switch moves, so a failure takes effect at once."""
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._failure_changed.wait(), seconds)

    @staticmethod
    def drop(request: web.Request) -> None:
        """Cut the TCP connection under a request without answering."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise Dropped

    @web.middleware
    async def _failure_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            if self.failure is not None:
                # Failed requests are recorded too: a test may check what reached the provider.
                body = await read_json(request) if request.can_read_body else None
                await self.record(request, body)
            if self.failure is Failure.STALL:
                await self.wait_while_stalled()
            if self.failure is Failure.DROP or self._stopping:
                self.drop(request)
            if self.failure is Failure.ERROR:
                return await self.error_response(request)
            return await handler(request)
        except Dropped:
            # The connection is gone; aiohttp needs some response object but writes nothing.
            return web.Response(status=499)

    # --- helpers for subclasses --------------------------------------------------------------------------------

    async def record(self, request: web.Request, body: Any = None, files: dict[str, bytes] | None = None) -> None:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=CIMultiDict(request.headers),
                body=body,
                files=files or {},
            )
        )

    def track(self, ws: web.WebSocketResponse) -> None:
        self._open_websockets.add(ws)

    def untrack(self, ws: web.WebSocketResponse) -> None:
        self._open_websockets.discard(ws)

    @property
    def last_request(self) -> RecordedRequest:
        assert self.requests, f"{self.name} fake received no request"
        return self.requests[-1]


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or ``None`` when it is not JSON."""
    raw = await request.read()
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


# aiohttp logs a traceback for every connection the fakes cut on purpose; that is the point of DROP.
logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
