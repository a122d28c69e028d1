"""A fake OpenAI API (and so of every OpenAI-compatible server): chat completions with SSE streaming,
audio transcriptions, speech, embeddings.

Protocol as in shared/reference/protocols.md section 5: ``Authorization: Bearer <key>``, the
``{"error": {...}}`` body with the real messages and codes, ``data: <json>`` SSE chunks ending with
``data: [DONE]``, tool-call deltas whose ``arguments`` arrive in fragments, the usage chunk when
``stream_options.include_usage`` is set, and the request checks the real service makes on the
conversation (a ``tool`` message must answer a preceding ``tool_calls`` entry, and every tool call
must be answered).

Scripting: ``fake.script("Hello!", ToolCall("get_weather", {"city": "Paris"}), Reply(...))`` queues
one reply per request. With nothing queued the reply echoes the last user message. ``Reply`` can
also fail mid-stream after some chunks. Every request is recorded in ``fake.requests`` (its JSON
body, so ``fake.chat_requests[-1]["messages"]`` is what the model was sent).
"""

from __future__ import annotations

import io
import json
import re
import time
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.audio import rms, tone
from tests.fakes.server import Dropped, Failure, FakeService, read_json, request_id

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
VOICES = {
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
}
SPEECH_FORMATS = {"mp3", "opus", "aac", "flac", "wav", "pcm"}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TOKEN = re.compile(r"\s*\S+")
SPEECH_RATE = 24000


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Reply:
    """One scripted completion.

    ``fail_after`` makes the stream break after that many content chunks (text tokens or tool-call
    fragments), the way ``fail_mode`` says: ``ERROR`` sends the in-stream ``{"error": ...}`` chunk,
    ``DROP`` cuts the connection, ``STALL`` stops sending. ``status`` answers the request with that
    HTTP error instead of a completion.
    """

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    fail_after: int | None = None
    fail_mode: Failure = Failure.ERROR
    status: int | None = None


def error_body(message: str, type_: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(
    status: int, message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> web.Response:
    return web.json_response(
        error_body(message, type_, param=param, code=code), status=status, headers={"x-request-id": request_id()}
    )


class OpenAIFake(FakeService):
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str = "sk-test-key",
        chunk_delay: float = 0.002,
        models: set[str] | None = None,
        default_reply: str | Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        super().__init__(api_key=api_key)
        self.replies: deque[Reply] = deque()
        self.transcripts: deque[str] = deque()
        self.chunk_delay = chunk_delay
        self.models = models  # None: any model name (compatible servers serve whatever they loaded)
        self.default_reply = default_reply

    # --- scripting ---------------------------------------------------------------------------------------------

    def script(self, *items: str | ToolCall | list[ToolCall] | Reply) -> None:
        for item in items:
            if isinstance(item, Reply):
                self.replies.append(item)
            elif isinstance(item, ToolCall):
                self.replies.append(Reply(tool_calls=[item]))
            elif isinstance(item, list):
                self.replies.append(Reply(tool_calls=list(item)))
            else:
                self.replies.append(Reply(text=item))

    def say_transcripts(self, *texts: str) -> None:
        """What ``/v1/audio/transcriptions`` hears, one per request that carries sound."""
        self.transcripts.extend(texts)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/chat/completions") and isinstance(r.body, dict)]

    # --- plumbing ----------------------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_post("/v1/audio/transcriptions", self.transcriptions)
        app.router.add_post("/v1/audio/speech", self.speech)
        app.router.add_post("/v1/embeddings", self.embeddings)

    async def error_response(self, request: web.Request) -> web.StreamResponse:
        return error_response(
            500, "The server had an error while processing your request. Sorry about that!", "server_error"
        )

    def _auth_problem(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization")
        if not auth:
            return error_response(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using "
                "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) "
                "if you're accessing the API from your browser and are prompted for a username and password. You "
                "can obtain an API key from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
            )
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or key.strip() != self.api_key:
            shown = key[:3] + "*" * 10 + key[-4:] if len(key) > 8 else "*" * len(key)
            return error_response(
                401,
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        return None

    def _model_problem(self, body: dict[str, Any]) -> web.Response | None:
        model = body.get("model")
        if not model or not isinstance(model, str):
            return error_response(400, "you must provide a model parameter", "invalid_request_error")
        if self.models is not None and model not in self.models:
            return error_response(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                code="model_not_found",
            )
        return None

    # --- chat completions --------------------------------------------------------------------------------------

    def _check_chat(self, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return error_response(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
                "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.",
                "invalid_request_error",
            )
        problem = self._model_problem(body)
        if problem:
            return problem
        messages = body.get("messages")
        if messages is None:
            return error_response(
                400,
                "Missing required parameter: 'messages'.",
                "invalid_request_error",
                param="messages",
                code="missing_required_parameter",
            )
        if not isinstance(messages, list) or not messages:
            return error_response(
                400,
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array "
                "instead.",
                "invalid_request_error",
                param="messages",
                code="empty_array",
            )
        pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message that made it
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ROLES:
                return error_response(
                    400,
                    f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', "
                    "'tool', and 'developer'.",
                    "invalid_request_error",
                    param=f"messages[{i}].role",
                    code="invalid_value",
                )
            if role == "tool":
                call_id = message.get("tool_call_id")
                if call_id not in pending:
                    return error_response(
                        400,
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                        "with 'tool_calls'.",
                        "invalid_request_error",
                        param=f"messages.[{i}].role",
                    )
                del pending[call_id]
                continue
            if pending:
                first = min(pending.values())
                return error_response(
                    400,
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                    f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                    f"{', '.join(pending)}",
                    "invalid_request_error",
                    param=f"messages.[{first}].role",
                )
            if role == "assistant":
                for call in message.get("tool_calls") or []:
                    pending[call.get("id")] = i
        if pending:
            return error_response(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
                "invalid_request_error",
                param=f"messages.[{min(pending.values())}].role",
            )
        for i, tool in enumerate(body.get("tools") or []):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
                return error_response(
                    400,
                    f"Missing required parameter: 'tools[{i}].function'.",
                    "invalid_request_error",
                    param=f"tools[{i}].function",
                    code="missing_required_parameter",
                )
            if not TOOL_NAME.match(str(function.get("name", ""))):
                return error_response(
                    400,
                    f"Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that "
                    "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    "invalid_request_error",
                    param=f"tools[{i}].function.name",
                    code="invalid_value",
                )
        temperature = body.get("temperature")
        if temperature is not None and not (isinstance(temperature, int | float) and 0 <= temperature <= 2):
            return error_response(
                400,
                f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got {temperature} "
                "instead.",
                "invalid_request_error",
                param="temperature",
                code="decimal_above_max_value",
            )
        for name in ("max_tokens", "max_completion_tokens"):
            value = body.get(name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                return error_response(
                    400,
                    f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got {value} instead.",
                    "invalid_request_error",
                    param=name,
                    code="integer_below_min_value",
                )
        if body.get("stream_options") is not None and not body.get("stream"):
            return error_response(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "invalid_request_error",
                param="stream_options",
            )
        return None

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        if self.replies:
            return self.replies.popleft()
        if callable(self.default_reply):
            return Reply(text=self.default_reply(body))
        if self.default_reply is not None:
            return Reply(text=self.default_reply)
        last_user = next(
            (m.get("content") for m in reversed(body["messages"]) if isinstance(m, dict) and m.get("role") == "user"),
            "",
        )
        if isinstance(last_user, list):
            last_user = " ".join(p.get("text", "") for p in last_user if isinstance(p, dict))
        return Reply(text=f"You said: {last_user}" if last_user else "Hello.")

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        await self.record(request, body)
        problem = self._auth_problem(request) or self._check_chat(body)
        if problem:
            return problem
        reply = self._next_reply(body)
        if reply.status is not None:
            return error_response(reply.status, f"Scripted failure ({reply.status})", "server_error")
        completion_id = "chatcmpl-" + request_id()[:24]
        model = body["model"]
        created = int(time.time())
        calls = [(c.id or "call_" + request_id()[:20], c) for c in reply.tool_calls]
        prompt_tokens = sum(len(json.dumps(m)) // 4 for m in body["messages"])
        completion_tokens = max(1, len(reply.text) // 4) + sum(len(c.arguments_json()) // 4 for _, c in calls)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        finish_reason = "tool_calls" if calls else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
            if calls:
                message["tool_calls"] = [
                    {"id": cid, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json()}}
                    for cid, c in calls
                ]
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
                    "usage": usage,
                },
                headers={"x-request-id": request_id()},
            )

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "x-request-id": request_id()}
        )
        await response.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                data["usage"] = None
            return data

        content: list[dict[str, Any]] = [{"content": token} for token in TOKEN.findall(reply.text)]
        for index, (cid, call) in enumerate(calls):
            arguments = call.arguments_json()
            content.append(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": cid,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
            # Arguments arrive in fragments, to be concatenated per index.
            for piece in (arguments[i : i + 8] for i in range(0, len(arguments), 8)):
                content.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})

        try:
            first: dict[str, Any] = {"role": "assistant", "content": "" if not calls else None, "refusal": None}
            await self._send(request, response, chunk(first))
            for n, delta in enumerate(content):
                if reply.fail_after is not None and n >= reply.fail_after:
                    return await self._break_stream(request, response, reply.fail_mode)
                await self.sleep(self.chunk_delay)
                await self._send(request, response, chunk(delta))
            await self._send(request, response, chunk({}, finish_reason))
            if include_usage:
                await self._send(
                    request,
                    response,
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "system_fingerprint": "fp_fake",
                        "choices": [],
                        "usage": usage,
                    },
                )
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except Dropped:
            pass
        return response

    async def _send(self, request: web.Request, response: web.StreamResponse, data: dict[str, Any]) -> None:
        # A failure switched on while streaming takes effect between chunks.
        if self.failure is not None:
            await self._break_stream(request, response, self.failure)
            raise Dropped
        await response.write(f"data: {json.dumps(data)}\n\n".encode())

    async def _break_stream(
        self, request: web.Request, response: web.StreamResponse, mode: Failure
    ) -> web.StreamResponse:
        if mode is Failure.ERROR:
            body = error_body(
                "The server had an error while processing your request. Sorry about that!", "server_error"
            )
            await response.write(f"data: {json.dumps(body)}\n\n".encode())
            await response.write_eof()
            return response
        if mode is Failure.STALL:
            await self.hold()
        if request.transport is not None:
            request.transport.abort()
        return response

    # --- audio ---------------------------------------------------------------------------------------------------

    async def transcriptions(self, request: web.Request) -> web.StreamResponse:
        fields: dict[str, str] = {}
        files: dict[str, bytes] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not hasattr(part, "name") or part.name is None:
                    continue
                if getattr(part, "filename", None):
                    files[part.name] = bytes(await part.read())  # type: ignore[union-attr]
                else:
                    fields[part.name] = await part.text()  # type: ignore[union-attr]
        await self.record(request, fields, files)
        problem = self._auth_problem(request)
        if problem:
            return problem
        if not request.content_type.startswith("multipart/"):
            return error_response(
                400, "Invalid Content-Type header, expected multipart/form-data.", "invalid_request_error"
            )
        if "file" not in files:
            return error_response(
                400,
                "Missing required parameter: 'file'.",
                "invalid_request_error",
                param="file",
                code="missing_required_parameter",
            )
        problem = self._model_problem(fields)
        if problem:
            return problem
        audio = files["file"]
        pcm, seconds = _wav_pcm(audio)
        text = self.transcripts.popleft() if pcm is not None and rms(pcm) > 300 and self.transcripts else ""
        response_format = fields.get("response_format", "json")
        if response_format == "text":
            return web.Response(text=text + "\n", content_type="text/plain")
        if response_format == "verbose_json":
            return web.json_response(
                {
                    "task": "transcribe",
                    "language": "english",
                    "duration": seconds,
                    "text": text,
                    "segments": [
                        {
                            "id": 0,
                            "seek": 0,
                            "start": 0.0,
                            "end": seconds,
                            "text": text,
                            "tokens": [],
                            "temperature": 0.0,
                            "avg_logprob": -0.1,
                            "compression_ratio": 1.0,
                            "no_speech_prob": 0.01,
                        }
                    ]
                    if text
                    else [],
                }
            )
        result: dict[str, Any] = {
            "text": text,
            "usage": {"type": "duration", "seconds": max(1, round(seconds))},
        }
        if "logprobs" in fields.get("include[]", "") or "logprobs" in fields.get("include", ""):
            result["logprobs"] = [{"token": w, "logprob": -0.01, "bytes": list(w.encode())} for w in text.split()]
        return web.json_response(result)

    async def speech(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        await self.record(request, body)
        problem = self._auth_problem(request)
        if problem:
            return problem
        if not isinstance(body, dict):
            return error_response(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        problem = self._model_problem(body)
        if problem:
            return problem
        text = body.get("input")
        if not isinstance(text, str) or not text:
            return error_response(
                400,
                "Missing required parameter: 'input'.",
                "invalid_request_error",
                param="input",
                code="missing_required_parameter",
            )
        if len(text) > 4096:
            return error_response(
                400,
                f"Invalid 'input': string too long. Expected a string with maximum length 4096, but got a string "
                f"with length {len(text)} instead.",
                "invalid_request_error",
                param="input",
                code="string_above_max_length",
            )
        voice = body.get("voice")
        if voice not in VOICES:
            return error_response(
                400,
                f"Invalid value: '{voice}'. Supported values are: {', '.join(sorted(VOICES))}.",
                "invalid_request_error",
                param="voice",
                code="invalid_value",
            )
        response_format = body.get("response_format", "mp3")
        if response_format not in SPEECH_FORMATS:
            return error_response(
                400,
                f"Invalid value: '{response_format}'. Supported values are: {', '.join(sorted(SPEECH_FORMATS))}.",
                "invalid_request_error",
                param="response_format",
                code="invalid_value",
            )
        if response_format not in ("pcm", "wav"):
            # A limitation of the fake, not of the service: it produces no compressed audio.
            return error_response(400, f"the fake cannot encode {response_format}", "invalid_request_error")
        speed = float(body.get("speed") or 1.0)
        pcm = tone(min(0.06 * len(text) / speed, 20.0), SPEECH_RATE)
        payload = _wav(pcm, SPEECH_RATE) if response_format == "wav" else pcm
        response = web.StreamResponse(
            headers={"Content-Type": "audio/wav" if response_format == "wav" else "audio/pcm"}
        )
        await response.prepare(request)
        try:
            for i in range(0, len(payload), 4800):
                if self.failure is not None:
                    await self._break_stream(request, response, self.failure)
                    return response
                await response.write(payload[i : i + 4800])
                await self.sleep(self.chunk_delay)
            await response.write_eof()
        except Dropped:
            pass
        return response

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        await self.record(request, body)
        problem = self._auth_problem(request)
        if problem:
            return problem
        if not isinstance(body, dict):
            return error_response(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        problem = self._model_problem(body)
        if problem:
            return problem
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return error_response(
                400, "'input' : input must be a string or an array of strings", "invalid_request_error", param="input"
            )
        dimensions = int(body.get("dimensions") or 1536)
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(str(text), dimensions)}
            for i, text in enumerate(inputs)
        ]
        tokens = sum(len(str(t).split()) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector per text: equal texts embed equally, different ones differently."""
    import hashlib

    import numpy as np

    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dimensions)
    return [float(x) for x in v / np.linalg.norm(v)]


def _wav(pcm: bytes, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buffer.getvalue()


def _wav_pcm(data: bytes) -> tuple[bytes | None, float]:
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            frames = w.readframes(w.getnframes())
            return frames, w.getnframes() / w.getframerate()
    except (wave.Error, EOFError):
        return None, 0.0
