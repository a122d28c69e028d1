"""The SSRF guard: refused destinations (with reasons), allow-listing, rebinding, redirects, limits.

Every test talks only to a server on 127.0.0.1. Blocked URLs point at the live test server wherever
they can, so a guard that let them through would be caught by the server seeing the request. Public
destinations are simulated with a fake resolver and a socket layer that records instead of connecting.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

import httpcore
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from bvrai.kit import safe_http
from bvrai.kit.safe_http import (
    AllowList,
    BlockedDestination,
    FetchFailed,
    FetchTimeout,
    IPAddress,
    ResponseTooLarge,
    SafeHttpClient,
    address_kind,
)

PUBLIC_IP = "93.184.215.14"


@dataclass
class Hits:
    paths: list[str] = field(default_factory=list)
    streamed: int = 0


def make_app(hits: Hits) -> Starlette:
    async def echo(request: Request) -> Response:
        hits.paths.append(request.url.path)
        return JSONResponse(
            {
                "method": request.method,
                "host": request.headers.get("host"),
                "authorization": request.headers.get("authorization"),
                "query": dict(request.query_params),
                "body": (await request.body()).decode(),
            }
        )

    async def redirect(request: Request) -> Response:
        hits.paths.append(request.url.path)
        status = int(request.query_params.get("status", "302"))
        return RedirectResponse(request.query_params["to"], status_code=status)

    async def loop(request: Request) -> Response:
        hits.paths.append(request.url.path)
        return RedirectResponse("/loop", status_code=302)

    async def big(request: Request) -> Response:
        return Response(b"x" * int(request.query_params["n"]), media_type="application/octet-stream")

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(int(request.query_params["count"])):
                hits.streamed += 65536
                yield b"y" * 65536

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params["s"]))
        return JSONResponse({"late": True})

    async def trickle(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(50):
                await asyncio.sleep(0.1)
                yield b"."

        return StreamingResponse(chunks(), media_type="text/plain")

    methods = ["GET", "POST", "PUT", "DELETE"]
    return Starlette(
        routes=[
            Route("/echo", echo, methods=methods),
            Route("/redirect", redirect, methods=methods),
            Route("/loop", loop),
            Route("/big", big),
            Route("/stream", stream),
            Route("/slow", slow),
            Route("/trickle", trickle),
        ]
    )


@asynccontextmanager
async def local_server(app: Starlette) -> AsyncIterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
def hits() -> Hits:
    return Hits()


@pytest.fixture
async def port(hits: Hits) -> AsyncIterator[int]:
    async with local_server(make_app(hits)) as bound:
        yield bound


def fake_resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> safe_http.Resolver:
    async def resolve(host: str, port: int) -> Sequence[IPAddress]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"unknown host {host}")
        return [ip_address(a) for a in table[host]]

    return resolve


# --- refused destinations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/echo", "resolves to 127.0.0.1, a loopback address"),
        ("http://localhost:{port}/echo", "resolves to 127.0.0.1, a loopback address"),
        ("http://[::1]:{port}/echo", "resolves to ::1, a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/echo", "an IPv6 form of 127.0.0.1, a loopback address"),
        ("http://2130706433:{port}/echo", "resolves to 127.0.0.1, a loopback address"),  # 127.0.0.1 as one number
        ("http://0x7f.1:{port}/echo", "resolves to 127.0.0.1, a loopback address"),
        ("http://0.0.0.0:{port}/echo", "resolves to 0.0.0.0, an unspecified address"),
        ("http://10.1.2.3/", "resolves to 10.1.2.3, a private address"),
        ("http://192.168.0.10/", "resolves to 192.168.0.10, a private address"),
        ("http://172.20.0.1/", "resolves to 172.20.0.1, a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address (the cloud metadata service)"),
        ("http://[::ffff:169.254.169.254]/", "an IPv6 form of 169.254.169.254, a link-local address"),
        ("http://100.64.1.1/", "a carrier-grade NAT address"),
        ("http://[fd00::1]/", "resolves to fd00::1, a private address"),
        ("http://[fe80::1]/", "resolves to fe80::1, a link-local address"),
    ],
)
async def test_internal_destinations_are_refused_with_the_reason(port: int, hits: Hits, url: str, reason: str) -> None:
    async with SafeHttpClient() as client:
        with pytest.raises(BlockedDestination) as caught:
            await client.request("GET", url.format(port=port))
    assert reason in caught.value.reason
    assert hits.paths == []


async def test_a_name_resolving_to_loopback_is_refused(port: int, hits: Hits) -> None:
    resolver = fake_resolver({"evil.example": [PUBLIC_IP, "127.0.0.1"]})
    async with SafeHttpClient(resolver=resolver) as client:
        with pytest.raises(BlockedDestination) as caught:
            await client.request("GET", f"http://evil.example:{port}/echo")
    assert caught.value.reason == "resolves to 127.0.0.1, a loopback address"
    assert hits.paths == []


@pytest.mark.parametrize(
    "url", ["http://user:s3cret@127.0.0.1/", "https://:s3cret@example.com/", "http://token@example.com/"]
)
async def test_urls_with_credentials_are_refused_without_echoing_them(url: str) -> None:
    async with SafeHttpClient(allow=["127.0.0.1"]) as client:
        with pytest.raises(BlockedDestination) as caught:
            await client.request("GET", url)
    assert "user name or password" in caught.value.reason
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/file", "file:///etc/passwd", "gopher://127.0.0.1:70/", "ws://example.com/", "/relative"]
)
async def test_only_http_and_https_are_allowed(url: str) -> None:
    async with SafeHttpClient(allow=["0.0.0.0/0"]) as client:
        with pytest.raises(BlockedDestination) as caught:
            await client.request("GET", url)
    assert "only http and https" in caught.value.reason


# --- allowed destinations ------------------------------------------------------------------------------------


async def test_an_allow_listed_address_is_reachable(port: int) -> None:
    async with SafeHttpClient(allow=["127.0.0.1"]) as client:
        response = await client.request("POST", f"http://127.0.0.1:{port}/echo?a=1", content=b"hi")
    assert response.status_code == 200
    assert response.json()["body"] == "hi"
    assert response.json()["query"] == {"a": "1"}


async def test_an_allow_listed_host_name_is_reachable(port: int) -> None:
    resolver = fake_resolver({"tools.internal": ["127.0.0.1"]})
    async with SafeHttpClient(allow="tools.internal, 10.0.0.0/8", resolver=resolver) as client:
        response = await client.request("GET", f"http://tools.internal:{port}/echo")
    assert response.json()["host"] == f"tools.internal:{port}"


async def test_the_allow_list_covers_only_what_it_names(port: int) -> None:
    async with SafeHttpClient(allow=["127.0.0.2/32", "*.corp.example"]) as client:
        with pytest.raises(BlockedDestination):
            await client.request("GET", f"http://127.0.0.1:{port}/echo")


async def test_public_addresses_pass_and_the_connection_goes_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No traffic leaves the machine: the socket layer records the address it is asked for and fails."""
    dialled: list[str] = []

    async def record(self: object, host: str, port: int, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        dialled.append(f"{host}:{port}")
        raise httpcore.ConnectError("test: not connecting")

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", record)
    resolver = fake_resolver({"api.example.com": [PUBLIC_IP, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]})
    async with SafeHttpClient(resolver=resolver) as client:
        checked = await client.check_url("https://api.example.com/x")
        assert [str(a) for a in checked] == [PUBLIC_IP, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
        with pytest.raises(FetchFailed) as caught:
            await client.request("GET", "https://api.example.com/x")
    assert dialled == [f"{PUBLIC_IP}:443", "2606:2800:21f:cb07:6820:80da:af6b:8b2c:443"]
    assert "ConnectError" in caught.value.reason


# --- DNS rebinding -------------------------------------------------------------------------------------------


async def test_the_checked_address_is_the_one_connected_to(port: int, hits: Hits) -> None:
    """A rebinding DNS answers the check with an allowed address and any later lookup with a private one.

    The request succeeds on the first answer, with a single lookup, and the Host header keeps the name:
    the connection did not resolve again (the system resolver does not even know ``rebind.test``).
    """
    calls: list[str] = []
    answers = iter([["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> Sequence[IPAddress]:
        calls.append(host)
        return [ip_address(a) for a in next(answers, ["10.0.0.1"])]

    async with SafeHttpClient(allow=["127.0.0.1"], resolver=rebinding) as client:
        response = await client.request("GET", f"http://rebind.test:{port}/echo")
        assert response.json()["host"] == f"rebind.test:{port}"
        assert calls == ["rebind.test"]
        # The next request checks again and sees the new answer.
        with pytest.raises(BlockedDestination) as caught:
            await client.request("GET", f"http://rebind.test:{port}/echo")
    assert caught.value.reason == "resolves to 10.0.0.1, a private address"
    assert hits.paths == ["/echo"]


async def test_the_socket_layer_refuses_hosts_that_were_not_checked(port: int) -> None:
    backend = safe_http._PinnedBackend()
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("127.0.0.1", port)


# --- redirects -----------------------------------------------------------------------------------------------


async def test_a_redirect_to_a_blocked_destination_is_refused(port: int, hits: Hits) -> None:
    async with SafeHttpClient(allow=["127.0.0.1"]) as client:
        for target in ("http://169.254.169.254/latest/meta-data/", f"http://[::1]:{port}/echo"):
            with pytest.raises(BlockedDestination) as caught:
                await client.request("GET", f"http://127.0.0.1:{port}/redirect?to={target}")
            assert caught.value.reason.startswith(f"redirected to {target}, which resolves to")
    assert hits.paths == ["/redirect", "/redirect"]


async def test_a_redirect_to_a_scheme_other_than_http_is_refused(port: int) -> None:
    async with SafeHttpClient(allow=["127.0.0.1"]) as client:
        with pytest.raises(BlockedDestination) as caught:
            await client.request("GET", f"http://127.0.0.1:{port}/redirect?to=file:///etc/passwd")
    assert "only http and https" in caught.value.reason


async def test_redirects_are_limited(port: int, hits: Hits) -> None:
    async with SafeHttpClient(allow=["127.0.0.1"], max_redirects=3) as client:
        with pytest.raises(FetchFailed) as caught:
            await client.request("GET", f"http://127.0.0.1:{port}/loop")
    assert caught.value.reason == "more than 3 redirects"
    assert len(hits.paths) == 4


async def test_allowed_redirects_are_followed_like_a_browser(port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    async with SafeHttpClient(allow=["127.0.0.1"]) as client:
        see_other = await client.request("POST", f"{base}/redirect?status=303&to=/echo", content=b"payload")
        assert see_other.json()["method"] == "GET"
        assert see_other.json()["body"] == ""
        assert see_other.redirects == [f"{base}/redirect?status=303&to=/echo"]
        temporary = await client.request("POST", f"{base}/redirect?status=307&to=/echo", content=b"payload")
        assert (temporary.json()["method"], temporary.json()["body"]) == ("POST", "payload")
        assert temporary.url == f"{base}/echo"


async def test_credentials_are_not_forwarded_to_another_origin(port: int) -> None:
    resolver = fake_resolver({"other.internal": ["127.0.0.1"]})
    async with SafeHttpClient(allow=["127.0.0.1"], resolver=resolver) as client:
        same = await client.request(
            "GET", f"http://127.0.0.1:{port}/redirect?to=/echo", headers={"Authorization": "Bearer k"}
        )
        other = await client.request(
            "GET",
            f"http://127.0.0.1:{port}/redirect?to=http://other.internal:{port}/echo",
            headers={"Authorization": "Bearer k"},
        )
    assert same.json()["authorization"] == "Bearer k"
    assert other.json()["authorization"] is None


# --- limits --------------------------------------------------------------------------------------------------


async def test_a_body_over_the_cap_is_refused(port: int) -> None:
    async with SafeHttpClient(allow=["127.0.0.1"], max_response_bytes=100_000) as client:
        exact = await client.request("GET", f"http://127.0.0.1:{port}/big?n=100000")
        assert len(exact.content) == 100_000
        with pytest.raises(ResponseTooLarge):
            await client.request("GET", f"http://127.0.0.1:{port}/big?n=100001")
        with pytest.raises(ResponseTooLarge):
            await client.request("GET", f"http://127.0.0.1:{port}/big?n=100", max_response_bytes=99)


async def test_reading_stops_at_the_cap_without_a_declared_length(port: int, hits: Hits) -> None:
    count = 800  # 50 MiB if read to the end
    async with SafeHttpClient(allow=["127.0.0.1"], max_response_bytes=200_000) as client:
        with pytest.raises(ResponseTooLarge) as caught:
            await client.request("GET", f"http://127.0.0.1:{port}/stream?count={count}")
        # What the server had produced when the client gave up: the cap plus what socket buffers held.
        produced = hits.streamed
    assert "200000-byte limit" in caught.value.reason
    assert produced < count * 65536 / 4


async def test_a_server_too_slow_to_answer_times_out(port: int) -> None:
    async with SafeHttpClient(allow=["127.0.0.1"], read_timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(FetchTimeout):
            await client.request("GET", f"http://127.0.0.1:{port}/slow?s=3")
    assert time.monotonic() - started < 2


async def test_the_overall_deadline_holds_against_a_trickling_body(port: int) -> None:
    """Each byte comes within the read timeout, so only the overall deadline can stop it."""
    async with SafeHttpClient(allow=["127.0.0.1"], read_timeout=5) as client:
        started = time.monotonic()
        with pytest.raises(FetchTimeout) as caught:
            await client.request("GET", f"http://127.0.0.1:{port}/trickle", total_timeout=0.5)
    assert caught.value.reason == "no complete answer within 0.5 s"
    assert time.monotonic() - started < 2


async def test_an_unknown_host_is_a_fetch_failure() -> None:
    async with SafeHttpClient(resolver=fake_resolver({})) as client:
        with pytest.raises(FetchFailed) as caught:
            await client.request("GET", "http://nowhere.test/")
    assert caught.value.reason.startswith("cannot resolve nowhere.test")


# --- the rules themselves ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.53", "a loopback address"),
        ("::1", "a loopback address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104 (an address to refuse, not to bind)
        ("::", "an unspecified address"),
        ("10.255.255.255", "a private address"),
        ("172.31.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("169.254.0.1", "a link-local address"),
        ("fe80::abcd", "a link-local address"),
        ("fec0::1", "a site-local address"),
        ("100.127.255.254", "a carrier-grade NAT address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("192.0.2.1", "a special-purpose, non-public address"),
        ("198.18.0.1", "a special-purpose, non-public address"),
        ("::ffff:10.0.0.1", "an IPv6 form of 10.0.0.1, a private address"),
        ("64:ff9b::a9fe:a9fe", "an IPv6 form of 169.254.169.254, a link-local address (the cloud metadata service)"),
        ("2002:7f00:1::1", "an IPv6 form of 127.0.0.1, a loopback address"),
        ("::7f00:1", "a reserved address"),
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ip_address(address)) == kind


def test_allow_list_parsing() -> None:
    allow = AllowList.parse(" 10.0.0.0/8, 127.0.0.1 ,[::1], Tools.Internal., *.corp.example ,")
    assert allow.allows_address(ip_address("10.9.9.9"))
    assert allow.allows_address(ip_address("::ffff:127.0.0.1"))
    assert allow.allows_address(ip_address("::1"))
    assert not allow.allows_address(ip_address("127.0.0.2"))
    assert allow.allows_host("tools.internal")
    assert allow.allows_host("a.b.corp.example")
    assert not allow.allows_host("corp.example.evil")
    assert not allow.allows_host("evilcorp.example")
    with pytest.raises(ValueError):
        AllowList.parse(["10.0.0.0/33"])
