"""An HTTP client for URLs that users give us (custom tools, outgoing webhooks, documents to fetch).

A user-supplied URL must not reach the platform's own network: the loopback interface, private
ranges, link-local addresses (169.254.169.254 hands out cloud credentials) and the like. Every hop is
checked the same way: the scheme is http or https, the URL carries no user name or password, the
host is resolved here and *every* address it resolves to must be public or allow-listed.

DNS rebinding. Checking a name and then letting the HTTP library resolve it again opens a window: an
attacker's DNS server answers the check with a public address and the connection with 127.0.0.1
(a TTL of 0 is enough). So the client never resolves twice. The addresses it checked are "pinned"
for the request in a context variable, and the connection pool's network backend (``_PinnedBackend``)
opens sockets to those addresses only; a host with no pinned addresses is refused, so nothing can slip
through to the system resolver. The URL itself is left untouched, which keeps the ``Host`` header,
TLS SNI and certificate verification on the real host name. Pooled keep-alive connections are keyed by
host name and were opened to a checked address, so reusing them is safe; every request still resolves
and checks afresh before it is sent.

Redirects are followed here, not by httpx, so each hop goes through the same check; credentials are
dropped when a redirect leaves the origin. The response body is read up to a size cap, and the whole
exchange (every hop, body included) has a deadline on top of the connect and read timeouts.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from types import MappingProxyType
from typing import Any

import httpcore
import httpx

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
# Resolves (host, port) to addresses; injectable so tests can play DNS without a DNS server.
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
QueryParams = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]


class SafeHttpError(Exception):
    """Base class: the request was not made, or did not complete."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class BlockedDestination(SafeHttpError):
    """The URL (or a redirect) points where user-supplied URLs may not go; nothing was sent there."""


class FetchFailed(SafeHttpError):
    """The destination was allowed but the exchange failed (connection, protocol, redirects, size)."""


class FetchTimeout(FetchFailed):
    """A connect, read or overall deadline passed."""


class ResponseTooLarge(FetchFailed):
    """The body went past the size cap; reading stopped there."""


# --- which addresses are off limits --------------------------------------------------------------------------

_PRIVATE = tuple(ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_CGNAT = ip_network("100.64.0.0/10")
_NAT64 = ip_network("64:ff9b::/96")
_METADATA = ip_address("169.254.169.254")


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4): it must pass the IPv4 rules."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return IPv4Address(ip.packed[-4:])
    return ip.sixtofour


def address_kind(ip: IPAddress) -> str | None:
    """Why an address is off limits (``"a loopback address"``), or ``None`` for a public address."""
    if isinstance(ip, IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        inner_kind = address_kind(inner)
        return None if inner_kind is None else f"an IPv6 form of {inner}, {inner_kind}"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip == _METADATA:
        return "a link-local address (the cloud metadata service)"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if any(ip in net for net in _PRIVATE):
        return "a private address"
    if ip in _CGNAT:
        return "a carrier-grade NAT address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        # Documentation, benchmarking, "this network" and other special-purpose ranges.
        return "a special-purpose, non-public address"
    return None


@dataclass(frozen=True, slots=True)
class AllowList:
    """Destinations let through despite the rules: networks, exact host names, ``*.suffix`` patterns."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str] | str) -> AllowList:
        """From ``["10.0.0.0/8", "127.0.0.1", "tools.internal", "*.corp.example"]`` or the same comma-separated."""
        if isinstance(entries, str):
            entries = entries.split(",")
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        suffixes: list[str] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            elif "/" in entry or "*" in entry or ":" in entry:
                raise ValueError(f"not a network, an address or a host name: {raw!r}")
            else:
                hosts.add(entry)
        return cls(tuple(networks), frozenset(hosts), tuple(suffixes))

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.hosts or any(host.endswith(s) for s in self.suffixes)

    def allows_address(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
            candidates.append(inner)
        return any(c in net for c in candidates for net in self.networks if c.version == net.version)


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses the system resolver gives for a host, without duplicates, in its order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        # An IPv6 link-local sockaddr can carry a zone ("fe80::1%eth0"); the zone does not change the verdict.
        seen.setdefault(ip_address(str(sockaddr[0]).split("%", 1)[0]))
    return list(seen)


# --- connecting only to the checked addresses ----------------------------------------------------------------

# host name (as httpcore sees it: IDNA, lower case) -> the addresses checked for this request.
_pins: ContextVar[Mapping[str, tuple[IPAddress, ...]]] = ContextVar(
    "bvrai_safe_http_pins", default=MappingProxyType({})
)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens sockets only to the addresses pinned for the current request; never resolves a name."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = _pins.get().get(host.lower())
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no checked address for this request")
        error: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:  # refused or unreachable: the next address may answer
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's backend interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through this client")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# Most specific first: the first match wins.
_ERROR_MAP: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _as_httpx_error(exc: Exception) -> Exception:
    for core_type, httpx_type in _ERROR_MAP:
        if isinstance(exc, core_type):
            return httpx_type(str(exc))
    return exc


class _CoreStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as exc:
            raise _as_httpx_error(exc) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


class _PinnedTransport(httpx.AsyncBaseTransport):
    """httpx on an httpcore pool whose backend is ``_PinnedBackend`` (public APIs of both only)."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_PinnedBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except Exception as exc:
            raise _as_httpx_error(exc) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_CoreStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


# --- the client ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SafeResponse:
    """A complete response: the body has been read (within the cap) and the connection released."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str
    redirects: list[str] = field(default_factory=list)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", "")).split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        return self.content.decode(self._charset(), errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def _charset(self) -> str:
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                try:
                    return str(codecs.lookup(value.strip().strip('"')).name)
                except LookupError:
                    break
        return "utf-8"


_REDIRECTS = {301, 302, 303, 307, 308}
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")


def _pairs(params: Sequence[tuple[str, str]]) -> list[tuple[str, str | int | float | bool | None]]:
    return list(params)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


class SafeHttpClient:
    """An async HTTP client for user-supplied URLs, guarded against SSRF and DNS rebinding.

    ``allow`` lets chosen destinations through: CIDRs or addresses (``"10.20.0.0/16"``,
    ``"127.0.0.1"``) and host names (``"tools.internal"``, ``"*.corp.example"``; a host name allows
    every address it resolves to). One instance is meant to be shared: it keeps a connection pool.
    """

    def __init__(
        self,
        *,
        allow: Iterable[str] | str = (),
        max_redirects: int = 3,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        total_timeout: float = 30.0,
        max_response_bytes: int = 1024 * 1024,
        user_agent: str = "bvrai",
        ssl_context: ssl.SSLContext | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.allow = AllowList.parse(allow)
        self.max_redirects = max_redirects
        self.total_timeout = total_timeout
        self.max_response_bytes = max_response_bytes
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        )
        self._resolve = resolver or system_resolver
        self._client = httpx.AsyncClient(
            transport=_PinnedTransport(ssl_context or httpx.create_ssl_context()),
            timeout=self._timeout,
            follow_redirects=False,
            # No proxies or .netrc from the environment: a proxy would do its own resolving.
            trust_env=False,
            headers={"user-agent": user_agent},
        )

    async def __aenter__(self) -> SafeHttpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def check_url(self, url: str | httpx.URL) -> list[IPAddress]:
        """The addresses a request to ``url`` would connect to; raises ``BlockedDestination`` when refused.

        Useful to refuse a URL when it is saved; the check still runs again on every request.
        """
        target = self._parse(url)
        host = target.raw_host.decode("ascii").lower()
        port = target.port or (443 if target.scheme == "https" else 80)
        literal = _literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                async with asyncio.timeout(self._timeout.connect):
                    addresses = list(await self._resolve(host, port))
            except (OSError, TimeoutError) as exc:
                raise FetchFailed(str(target), f"cannot resolve {host}: {exc or 'timed out'}") from None
            if not addresses:
                raise FetchFailed(str(target), f"{host} has no address")
            if self.allow.allows_host(host):
                return addresses
        for address in addresses:
            kind = address_kind(address)
            if kind is not None and not self.allow.allows_address(address):
                raise BlockedDestination(str(target), f"resolves to {address}, {kind}")
        return addresses

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str] | None = None,
        params: QueryParams | None = None,
        content: bytes | None = None,
        total_timeout: float | None = None,
        max_response_bytes: int | None = None,
    ) -> SafeResponse:
        """Send one request (following allowed redirects) and read the whole answer.

        ``total_timeout`` is this request's overall deadline (every hop, body included), replacing the
        client's. Raises ``BlockedDestination``, ``FetchTimeout``, ``ResponseTooLarge`` or ``FetchFailed``; a
        non-2xx answer is a response, not an error.
        """
        deadline = self.total_timeout if total_timeout is None else total_timeout
        limit = self.max_response_bytes if max_response_bytes is None else max_response_bytes
        target = self._parse(url)
        if params:
            # Added to the URL's own query (httpx's ``params=`` would replace it).
            pairs = params if isinstance(params, Mapping) else _pairs(params)
            target = target.copy_merge_params(httpx.QueryParams(pairs))
        request = self._client.build_request(method, target, headers=headers, content=content)
        try:
            async with asyncio.timeout(deadline):
                return await self._send(request, limit)
        except TimeoutError:
            raise FetchTimeout(str(request.url), f"no complete answer within {deadline:g} s") from None

    async def _send(self, request: httpx.Request, limit: int) -> SafeResponse:
        visited: list[str] = []
        while True:
            try:
                addresses = await self.check_url(request.url)
            except BlockedDestination as exc:
                if not visited:
                    raise
                raise BlockedDestination(visited[0], f"redirected to {exc.url}, which {exc.reason}") from None
            response = await self._send_pinned(request, addresses)
            try:
                location = response.headers.get("location")
                if response.status_code not in _REDIRECTS or not location:
                    body = await self._read_capped(response, limit, str(request.url))
                    return SafeResponse(response.status_code, response.headers, body, str(request.url), visited)
            finally:
                await response.aclose()
            if len(visited) >= self.max_redirects:
                raise FetchFailed(str(request.url), f"more than {self.max_redirects} redirects")
            visited.append(str(request.url))
            request = self._redirect(request, response.status_code, location)

    async def _send_pinned(self, request: httpx.Request, addresses: list[IPAddress]) -> httpx.Response:
        token = _pins.set({request.url.raw_host.decode("ascii").lower(): tuple(addresses)})
        try:
            return await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise FetchTimeout(str(request.url), f"timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(str(request.url), f"{type(exc).__name__}: {exc}") from None
        finally:
            _pins.reset(token)

    async def _read_capped(self, response: httpx.Response, limit: int, url: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ResponseTooLarge(url, f"the body is {declared} bytes, over the {limit}-byte limit")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise ResponseTooLarge(url, f"the body goes past the {limit}-byte limit")
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise FetchTimeout(url, "timed out reading the body") from None
        except httpx.HTTPError as exc:
            raise FetchFailed(url, f"{type(exc).__name__} reading the body: {exc}") from None
        return b"".join(chunks)

    def _redirect(self, request: httpx.Request, status: int, location: str) -> httpx.Request:
        try:
            target = request.url.join(location)
        except httpx.InvalidURL as exc:
            raise FetchFailed(str(request.url), f"invalid redirect location {location!r}: {exc}") from None
        method, content = request.method, request.content
        # What browsers and httpx do: 303 always, and 301/302 after a POST, turn into a GET without the body.
        if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
            method, content = "GET", b""
        headers = httpx.Headers(request.headers)
        for name in ("host", "content-length", "transfer-encoding"):
            headers.pop(name, None)
        if not content:
            headers.pop("content-type", None)
        if _origin(target) != _origin(request.url):
            for name in _CREDENTIAL_HEADERS:
                headers.pop(name, None)
        return self._client.build_request(method, self._parse(target), headers=headers, content=content or None)

    @staticmethod
    def _parse(url: str | httpx.URL) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise BlockedDestination(str(url), f"not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https"):
            raise BlockedDestination(str(url), f"only http and https URLs are allowed, not {parsed.scheme or 'none'!r}")
        if parsed.userinfo:
            # The password stays out of the message: it ends up in logs.
            shown = str(parsed.copy_with(username=None, password=None))
            raise BlockedDestination(shown, "URLs must not carry a user name or password")
        if not parsed.host:
            raise BlockedDestination(str(url), "the URL has no host")
        return parsed
