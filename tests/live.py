"""A real uvicorn server on a free 127.0.0.1 port, in a thread, for tests that need real sockets
(WebSockets, schemathesis over HTTP)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI


@dataclass(frozen=True)
class LiveServer:
    app: FastAPI
    base_url: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1)


@contextmanager
def serve(app: FastAPI) -> Iterator[LiveServer]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the API server did not start"
    try:
        yield LiveServer(app=app, base_url=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
