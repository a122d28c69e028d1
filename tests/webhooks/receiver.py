"""A customer's webhook receiver on 127.0.0.1: verifies every request with the standardwebhooks
library, and can be told to fail its first N requests."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    verified: bool


@dataclass
class Receiver:
    secret: str | None = None
    fail_first: int = 0
    fail_status: int = 500
    delay_s: float = 0.0  # a slow server: deliveries stay in flight this long
    in_flight: int = 0  # requests received and not yet answered
    requests: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def delivered(self) -> list[Received]:
        """Requests answered with 2xx."""
        return self.requests[self.fail_first :]

    def events(self, type: str) -> list[dict[str, Any]]:
        return [r.body for r in self.delivered if r.body["type"] == type]

    async def handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.Response:
        raw = await request.text()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = False
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(raw, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.requests.append(Received(headers, json.loads(raw), verified))
        if len(self.requests) <= self.fail_first:
            return web.Response(status=self.fail_status, text="down for maintenance " + "x" * 3000)
        return web.Response(status=200, text="thanks")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/hooks", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
