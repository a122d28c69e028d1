"""A fake Anthropic Messages API: ``POST /v1/messages``, streaming (SSE) or not.

Protocol as in shared/reference/protocols.md section 6: ``x-api-key`` and ``anthropic-version``
headers required, the ``{"type": "error", "error": {...}, "request_id": ...}`` body with the real
status-to-type mapping, the exact event order (``message_start``, then per content block
``content_block_start`` / ``content_block_delta``... / ``content_block_stop``, a ``ping`` after the
first block start, ``message_delta`` with ``stop_reason`` and cumulative usage, ``message_stop``),
``tool_use`` blocks whose input arrives as ``input_json_delta`` fragments, and the checks the real API
makes on tool results (each ``tool_result`` answers a ``tool_use`` of the message just before, and
every ``tool_use`` is answered at the start of the next user turn).

Scripting is the same as the OpenAI fake's: ``fake.script("text", ToolUse(...), Reply(...))``, one
reply per request, an echo of the last user message when nothing is queued; ``fake.requests`` holds
what was received.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import Dropped, Failure, FakeService, read_json, request_id

TOKEN = re.compile(r"\s*\S+")
STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class ToolUse:
    name: str
    input: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass
class Reply:
    """One scripted message: optional text, then tool_use blocks.

    ``fail_after`` breaks the stream after that many deltas the way ``fail_mode`` says (``ERROR``: an
    ``event: error`` with ``overloaded_error``; ``DROP``: cut; ``STALL``: silence). ``status`` answers
    with that HTTP error instead.
    """

    text: str = ""
    tool_uses: list[ToolUse] = field(default_factory=list)
    fail_after: int | None = None
    fail_mode: Failure = Failure.ERROR
    status: int | None = None


def error_response(status: int, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    rid = "req_" + request_id()[:24]
    body = {"type": "error", "error": {"type": STATUS_TYPES.get(status, "api_error"), "message": message}}
    body["request_id"] = rid
    return web.json_response(body, status=status, headers={"request-id": rid, **(headers or {})})


class AnthropicFake(FakeService):
    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str = "sk-ant-test-key",
        chunk_delay: float = 0.002,
        default_reply: str | Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        super().__init__(api_key=api_key)
        self.replies: deque[Reply] = deque()
        self.chunk_delay = chunk_delay
        self.default_reply = default_reply

    def script(self, *items: str | ToolUse | list[ToolUse] | Reply) -> None:
        for item in items:
            if isinstance(item, Reply):
                self.replies.append(item)
            elif isinstance(item, ToolUse):
                self.replies.append(Reply(tool_uses=[item]))
            elif isinstance(item, list):
                self.replies.append(Reply(tool_uses=list(item)))
            else:
                self.replies.append(Reply(text=item))

    @property
    def message_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == "/v1/messages" and isinstance(r.body, dict)]

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)

    async def error_response(self, request: web.Request) -> web.StreamResponse:
        return error_response(529, "Overloaded")

    # --- checks ------------------------------------------------------------------------------------------------

    def _header_problem(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-api-key")
        if not key and not request.headers.get("Authorization"):
            return error_response(401, "x-api-key header is required")
        if key != self.api_key:
            return error_response(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return error_response(400, "anthropic-version: header is required")
        return None

    def _body_problem(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return error_response(400, "Request body is not valid JSON")
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return error_response(400, f"{name}: Field required")
        if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
            return error_response(400, "max_tokens: Input should be greater than or equal to 1")
        temperature = body.get("temperature")
        if temperature is not None and not (isinstance(temperature, int | float) and 0 <= temperature <= 1):
            return error_response(400, "temperature: Input should be less than or equal to 1")
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            return error_response(400, "messages: at least one message is required")
        if body.get("system") is not None and not isinstance(body["system"], str | list):
            return error_response(400, "system: Input should be a valid string or list of text blocks")
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                return error_response(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
        for tool in body.get("tools") or []:
            if not isinstance(tool, dict) or "name" not in tool:
                return error_response(400, "tools.0.name: Field required")
            if "input_schema" not in tool and "type" not in tool:
                return error_response(400, f"tools.{tool.get('name')}.input_schema: Field required")
        return self._tool_protocol_problem(messages)

    @staticmethod
    def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
        content = message.get("content")
        if isinstance(content, str):
            return [{"type": "text", "text": content}]
        return [b for b in content or [] if isinstance(b, dict)]

    def _tool_protocol_problem(self, messages: list[dict[str, Any]]) -> web.Response | None:
        for i, message in enumerate(messages):
            blocks = self._blocks(message)
            if message["role"] == "assistant":
                uses = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
                if not uses:
                    continue
                following = self._blocks(messages[i + 1]) if i + 1 < len(messages) else []
                # The tool_result blocks must open the next user turn.
                leading: list[Any] = []
                for block in following:
                    if block.get("type") != "tool_result":
                        break
                    leading.append(block.get("tool_use_id"))
                missing = [u for u in uses if u not in leading]
                if i + 1 < len(messages) and missing:
                    return error_response(
                        400,
                        f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                        f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                        "`tool_result` block in the next message.",
                    )
            else:
                results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
                if not results:
                    continue
                previous = self._blocks(messages[i - 1]) if i > 0 and messages[i - 1]["role"] == "assistant" else []
                uses = {b.get("id") for b in previous if b.get("type") == "tool_use"}
                unknown = [r for r in results if r not in uses]
                if unknown:
                    return error_response(
                        400,
                        f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{unknown[0]}. Each `tool_result` block must have a corresponding `tool_use` block in the "
                        "previous message.",
                    )
        return None

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        if self.replies:
            return self.replies.popleft()
        if callable(self.default_reply):
            return Reply(text=self.default_reply(body))
        if self.default_reply is not None:
            return Reply(text=self.default_reply)
        for message in reversed(body["messages"]):
            if message["role"] == "user":
                text = " ".join(b.get("text", "") for b in self._blocks(message) if b.get("type") == "text")
                if text:
                    return Reply(text=f"You said: {text}")
        return Reply(text="Hello.")

    # --- the endpoint ------------------------------------------------------------------------------------------

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        await self.record(request, body)
        problem = self._header_problem(request) or self._body_problem(body)
        if problem:
            return problem
        reply = self._next_reply(body)
        if reply.status is not None:
            headers = {"retry-after": "1"} if reply.status == 429 else None
            return error_response(reply.status, f"Scripted failure ({reply.status})", headers=headers)

        message_id = "msg_" + request_id()[:24]
        uses = [(u.id or "toolu_" + request_id()[:24], u) for u in reply.tool_uses]
        input_tokens = sum(len(json.dumps(m)) // 4 for m in body["messages"]) + len(str(body.get("system", ""))) // 4
        output_tokens = max(1, len(reply.text) // 4) + sum(len(json.dumps(u.input)) // 4 for _, u in uses)
        stop_reason = "tool_use" if uses else "end_turn"

        if not body.get("stream"):
            content: list[dict[str, Any]] = []
            if reply.text:
                content.append({"type": "text", "text": reply.text})
            content += [{"type": "tool_use", "id": uid, "name": u.name, "input": u.input} for uid, u in uses]
            return web.json_response(
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": content,
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                },
                headers={"request-id": "req_" + request_id()[:24]},
            )

        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "request-id": request_id()}
        )
        await response.prepare(request)
        events: list[tuple[str, dict[str, Any], bool]] = []  # (event, data, counts as a delta)
        index = 0
        if reply.text:
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
                    False,
                )
            )
            events.append(("ping", {"type": "ping"}, False))
            for token in TOKEN.findall(reply.text):
                events.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": token}},
                        True,
                    )
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}, False))
            index += 1
        for uid, use in uses:
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "tool_use", "id": uid, "name": use.name, "input": {}},
                    },
                    False,
                )
            )
            if index == 0:
                events.append(("ping", {"type": "ping"}, False))
            raw = json.dumps(use.input)
            for piece in ["", *(raw[i : i + 10] for i in range(0, len(raw), 10))]:
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                        True,
                    )
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}, False))
            index += 1
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
                False,
            )
        )
        events.append(("message_stop", {"type": "message_stop"}, False))

        start = {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": input_tokens,
                    "output_tokens": 1,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            },
        }
        try:
            await self._event(request, response, "message_start", start)
            deltas = 0
            for name, data, is_delta in events:
                if is_delta:
                    if reply.fail_after is not None and deltas >= reply.fail_after:
                        await self._break_stream(request, response, reply.fail_mode)
                        return response
                    deltas += 1
                    await self.sleep(self.chunk_delay)
                await self._event(request, response, name, data)
            await response.write_eof()
        except Dropped:
            pass
        return response

    async def _event(self, request: web.Request, response: web.StreamResponse, name: str, data: dict[str, Any]) -> None:
        if self.failure is not None:
            await self._break_stream(request, response, self.failure)
            raise Dropped
        await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    async def _break_stream(self, request: web.Request, response: web.StreamResponse, mode: Failure) -> None:
        if mode is Failure.ERROR:
            data = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            await response.write(f"event: error\ndata: {json.dumps(data)}\n\n".encode())
            await response.write_eof()
            return
        if mode is Failure.STALL:
            await self.hold()
        if request.transport is not None:
            request.transport.abort()
