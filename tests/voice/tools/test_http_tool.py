"""The custom http tool against a real tool server on 127.0.0.1 that checks every request's signature.

The server is what a user's API would be: it verifies the Standard Webhooks signature with the
``standardwebhooks`` library (a request that fails is answered 401 and not recorded) and answers in
the ways real APIs do: JSON, text, errors, slowly.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bvrai.agents.spec import HttpTool as HttpToolSpec
from bvrai.kit.safe_http import SafeHttpClient
from bvrai.voice.tools import HttpTool, new_signing_secret
from bvrai.voice.tools.http_tool import MAX_RESULT_CHARS

SECRET = new_signing_secret()
BOOKING_SCHEMA = {
    "type": "object",
    "properties": {
        "date": {"type": "string", "format": "date", "description": "YYYY-MM-DD"},
        "name": {"type": "string", "minLength": 1},
        "party": {"type": "integer", "minimum": 1, "maximum": 12},
    },
    "required": ["date", "name"],
}


class ToolServer:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.rejected = 0
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            body = await request.body()
            try:
                Webhook(SECRET).verify(body, dict(request.headers), json_parse=False)
            except WebhookVerificationError as exc:
                self.rejected += 1
                return JSONResponse({"detail": f"bad signature: {exc}"}, status_code=401)
            self.received.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "query": list(request.query_params.multi_items()),
                    "headers": dict(request.headers),
                    "json": json.loads(body) if body else None,
                }
            )
            return await reply(request, body)

        async def reply(request: Request, body: bytes) -> Response:
            path = request.url.path
            if path == "/book":
                args = json.loads(body)
                return JSONResponse({"booked": True, "slot": f"{args['date']} 10:00", "for": args["name"]})
            if path == "/slow":
                await asyncio.sleep(3)
                return JSONResponse({"late": True})
            if path == "/taken":
                return JSONResponse({"message": "that slot is taken"}, status_code=409)
            if path == "/crash":
                return Response("Internal Server Error", status_code=500, media_type="text/plain")
            if path == "/text":
                return Response("Opening hours: 9 to 5.", media_type="text/plain")
            if path == "/png":
                return Response(b"\x89PNG\r\n\x1a\n" + b"\0" * 20, media_type="image/png")
            if path == "/badjson":
                return Response(b'{"oops": ', media_type="application/json")
            if path == "/empty":
                return Response(status_code=204)
            if path == "/huge":
                return JSONResponse({"rows": ["x" * 100] * 1000})
            return JSONResponse({"query": list(request.query_params.multi_items())})

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])


@asynccontextmanager
async def running(server: ToolServer) -> AsyncIterator[ToolServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server.port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(server.app(), log_level="warning", lifespan="off", timeout_graceful_shutdown=1))
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    while not uv.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        uv.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def server() -> AsyncIterator[ToolServer]:
    async with running(ToolServer()) as started:
        yield started


@pytest.fixture
async def client() -> AsyncIterator[SafeHttpClient]:
    async with SafeHttpClient(allow=["127.0.0.1"]) as allowed:
        yield allowed


def tool(url: str, *, client: SafeHttpClient, bearer: str | None = None, **fields: Any) -> HttpTool:
    spec = HttpToolSpec.model_validate(
        {
            "type": "http",
            "name": "book_appointment",
            "description": "Book a slot for the caller",
            "url": url,
            "parameters": BOOKING_SCHEMA,
            **fields,
        }
    )
    return HttpTool(spec, client=client, signing_secret=SECRET, bearer_secret=bearer)


# --- a successful call ---------------------------------------------------------------------------------------


async def test_arguments_arrive_signed_and_the_reply_is_the_result(server: ToolServer, client: SafeHttpClient) -> None:
    book = tool(f"{server.base}/book", client=client, bearer="sk_live_123", headers={"X-Clinic": "smile"})
    arguments = {"date": "2026-12-01", "name": "Zoë", "party": 2}

    result = await book.invoke(arguments, call_id="call_01test")

    assert result.ok and result.status == "ok"
    assert result.content == {"booked": True, "slot": "2026-12-01 10:00", "for": "Zoë"}
    assert result.http_status == 200
    assert result.latency_ms > 0
    (request,) = server.received
    assert (request["method"], request["json"]) == ("POST", arguments)
    headers = request["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == "Bearer sk_live_123"
    assert headers["x-bvrai-call-id"] == "call_01test"
    assert headers["x-clinic"] == "smile"
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert server.rejected == 0


async def test_each_request_gets_its_own_message_id(server: ToolServer, client: SafeHttpClient) -> None:
    book = tool(f"{server.base}/book", client=client)
    for _ in range(2):
        assert (await book.invoke({"date": "2026-12-01", "name": "A"}, call_id="call_1")).ok
    ids = {r["headers"]["webhook-id"] for r in server.received}
    assert len(ids) == 2
    assert "authorization" not in server.received[0]["headers"]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_get_and_delete_send_the_arguments_in_the_query_string(
    server: ToolServer, client: SafeHttpClient, method: str
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "n": {"type": "integer"},
            "exact": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "filter": {"type": "object"},
            "missing": {"type": ["string", "null"]},
        },
    }
    lookup = tool(f"{server.base}/slots?clinic=smile", client=client, method=method, parameters=schema)
    arguments = {"q": "dr. who & co", "n": 3, "exact": False, "tags": ["a", "b"], "filter": {"x": 1}, "missing": None}

    result = await lookup.invoke(arguments, call_id="call_2")

    expected = [
        ("clinic", "smile"),
        ("q", "dr. who & co"),
        ("n", "3"),
        ("exact", "false"),
        ("tags", "a"),
        ("tags", "b"),
        ("filter", '{"x":1}'),
    ]
    assert result.content == {"query": [list(pair) for pair in expected]}
    (request,) = server.received
    assert request["method"] == method
    assert request["json"] is None
    assert "content-type" not in request["headers"]


# --- arguments the schema refuses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "A"}, "invalid arguments: 'date' is a required property"),
        ({"date": "2026-12-01", "name": "A", "party": "two"}, "invalid arguments: 'two' is not of type 'integer'"),
        ({"date": "2026-12-01", "name": "A", "party": 40}, "invalid arguments: 40 is greater than the maximum of 12"),
        ({"date": "next tuesday", "name": "A"}, "invalid arguments: 'next tuesday' is not a 'date'"),
        (["2026-12-01"], "invalid arguments: the arguments must be a JSON object"),
    ],
)
async def test_invalid_arguments_never_reach_the_server(
    server: ToolServer, client: SafeHttpClient, arguments: Any, message: str
) -> None:
    result = await tool(f"{server.base}/book", client=client).invoke(arguments, call_id="call_3")

    assert result.status == "invalid_arguments"
    assert result.content["error"].startswith(message)
    assert server.received == [] and server.rejected == 0


async def test_the_error_says_where_a_nested_argument_is_wrong(server: ToolServer, client: SafeHttpClient) -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]},
            }
        },
    }
    order = tool(f"{server.base}/book", client=client, parameters=schema)

    result = await order.invoke({"items": [{"sku": "a"}, {"qty": 1}]}, call_id="call_4")

    assert result.content == {"error": "invalid arguments: 'sku' is a required property (at $.items[1])"}
    assert server.received == []


async def test_a_schema_jsonschema_refuses_makes_a_readable_error(server: ToolServer, client: SafeHttpClient) -> None:
    broken = {"type": "object", "properties": {"n": {"type": "integer", "minimum": "zero"}}}
    result = await tool(f"{server.base}/book", client=client, parameters=broken).invoke({"n": 1}, call_id="call_5")

    assert result.status == "failed"
    assert "misconfigured" in result.content["error"]
    assert server.received == []


# --- failures become results ---------------------------------------------------------------------------------


async def test_a_slow_server_times_out_into_an_error_result(server: ToolServer, client: SafeHttpClient) -> None:
    slow = tool(f"{server.base}/slow", client=client, timeout_s=0.5)
    started = time.monotonic()

    result = await slow.invoke({"date": "2026-12-01", "name": "A"}, call_id="call_6")

    assert time.monotonic() - started < 2
    assert result.status == "timeout"
    assert result.content == {"error": "the tool did not answer within 0.5 seconds"}
    assert result.http_status is None


async def test_loopback_without_the_allow_list_is_refused(server: ToolServer) -> None:
    async with SafeHttpClient() as default_client:
        result = await tool(f"{server.base}/book", client=default_client).invoke(
            {"date": "2026-12-01", "name": "A"}, call_id="call_7"
        )

    assert result.status == "blocked"
    assert result.content == {"error": "the tool's address is not reachable from this platform"}
    assert result.detail is not None and "resolves to 127.0.0.1, a loopback address" in result.detail
    assert server.received == [] and server.rejected == 0


async def test_a_private_network_url_is_refused(client: SafeHttpClient) -> None:
    result = await tool("http://10.20.30.40/book", client=client).invoke(
        {"date": "2026-12-01", "name": "A"}, call_id="call_8"
    )

    assert result.status == "blocked"
    assert result.detail is not None and "resolves to 10.20.30.40, a private address" in result.detail
    assert "10.20" not in json.dumps(result.content)


async def test_an_unreachable_server_is_an_error_result(client: SafeHttpClient) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = await tool(f"http://127.0.0.1:{port}/book", client=client).invoke(
        {"date": "2026-12-01", "name": "A"}, call_id="call_9"
    )

    assert result.status == "failed"
    assert result.content == {"error": "the tool could not be reached"}


@pytest.mark.parametrize(
    ("path", "status", "content", "http_status"),
    [
        (
            "/taken",
            "http_error",
            {"error": "the tool answered with HTTP status 409", "response": {"message": "that slot is taken"}},
            409,
        ),
        (
            "/crash",
            "http_error",
            {"error": "the tool answered with HTTP status 500", "response": "Internal Server Error"},
            500,
        ),
        ("/text", "ok", {"result": "Opening hours: 9 to 5."}, 200),
        ("/empty", "ok", {"result": "done"}, 204),
        ("/png", "bad_reply", {"error": "the tool answered with image/png, not JSON"}, 200),
        ("/badjson", "bad_reply", {"error": "the tool answered with malformed JSON"}, 200),
    ],
)
async def test_answers_map_to_results_the_llm_can_read(
    server: ToolServer, client: SafeHttpClient, path: str, status: str, content: Any, http_status: int
) -> None:
    result = await tool(f"{server.base}{path}", client=client).invoke(
        {"date": "2026-12-01", "name": "A"}, call_id="call_10"
    )

    assert (result.status, result.content, result.http_status) == (status, content, http_status)


async def test_a_long_answer_is_cut_to_a_sane_size(server: ToolServer, client: SafeHttpClient) -> None:
    result = await tool(f"{server.base}/huge", client=client).invoke(
        {"date": "2026-12-01", "name": "A"}, call_id="call_11"
    )

    assert result.ok
    assert result.content["truncated"] is True
    assert len(result.content["result"]) == MAX_RESULT_CHARS


# --- what the LLM is told ------------------------------------------------------------------------------------


def test_the_function_schema_for_the_llm(client: SafeHttpClient) -> None:
    schema = tool("https://api.example.com/book", client=client).as_function_schema()

    assert schema.to_default_dict() == {
        "name": "book_appointment",
        "description": "Book a slot for the caller",
        "parameters": {
            "type": "object",
            "properties": BOOKING_SCHEMA["properties"],
            "required": ["date", "name"],
        },
    }
    assert schema.handler is None
