"""The custom ``http`` tool: the LLM fills the arguments, BVRAI sends them to the user's API.

Whatever goes wrong (arguments that break the schema, a refused URL, a slow or failing server, an
answer that is not JSON) becomes a result the LLM can read and talk around, never an exception: the
call goes on. What the LLM sees is kept free of internal detail (addresses, stack traces); the
``detail`` of a ``ToolResult`` carries that for the call's event log.

Wire format of a request:

- ``POST``, ``PUT``, ``PATCH``: the arguments as a JSON body (``Content-Type: application/json``).
- ``GET``, ``DELETE``: the arguments in the query string, added to any the URL already has. Strings as
  they are, numbers as JSON writes them, booleans as ``true``/``false``, a list of scalars as the key
  repeated, objects and nested lists as compact JSON, ``null`` left out.
- Headers: the spec's ``headers``; ``Authorization: Bearer <secret>`` when the tool has a credential;
  ``X-BVRAI-Call-Id``; and the Standard Webhooks ``webhook-id``, ``webhook-timestamp`` and
  ``webhook-signature`` over the exact body bytes (an empty body for GET and DELETE, so there the
  signature vouches for the sender and the time, not for the query string).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import structlog
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from bvrai.agents.spec import HttpTool as HttpToolSpec
from bvrai.kit.safe_http import (
    BlockedDestination,
    FetchFailed,
    FetchTimeout,
    ResponseTooLarge,
    SafeHttpClient,
    SafeResponse,
)
from bvrai.voice.tools.signing import RequestSigner

if TYPE_CHECKING:
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.services.llm_service import FunctionCallHandler

log = structlog.get_logger(__name__)

# What the LLM gets back is bounded: a long answer costs tokens and time to first word.
MAX_RESULT_CHARS = 16_000
# Past this the answer is not read at all.
MAX_REPLY_BYTES = 512 * 1024
_MAX_MESSAGE_CHARS = 300
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

ToolStatus = Literal["ok", "invalid_arguments", "blocked", "timeout", "http_error", "bad_reply", "failed"]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool call.

    ``content`` goes to the LLM (the reply's JSON, ``{"result": text}`` or ``{"error": ...}``);
    ``status``, ``http_status``, ``latency_ms`` and ``detail`` go to the call's event log.
    """

    content: Any
    status: ToolStatus
    latency_ms: float
    http_status: int | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class HttpTool:
    """Runs one ``http`` tool of an agent spec for the calls of a session."""

    def __init__(
        self,
        spec: HttpToolSpec,
        *,
        client: SafeHttpClient,
        signing_secret: str,
        bearer_secret: str | None = None,
    ) -> None:
        self.spec = spec
        self._client = client
        self._signer = RequestSigner(signing_secret)
        self._bearer = bearer_secret
        self._validator: Draft202012Validator | None = None
        # The spec's check is structural; a schema jsonschema rejects is reported on use, not at call start.
        self._schema_problem: str | None = None
        try:
            Draft202012Validator.check_schema(spec.parameters)
            self._validator = Draft202012Validator(spec.parameters, format_checker=Draft202012Validator.FORMAT_CHECKER)
        except SchemaError as exc:
            self._schema_problem = _short(exc.message)

    @property
    def name(self) -> str:
        return self.spec.name

    def as_function_schema(self, handler: FunctionCallHandler | None = None) -> FunctionSchema:
        """The tool as pipecat describes functions to the LLM (``handler`` is passed through)."""
        # Imported here: pipecat is the voice engine's dependency, not something every role loads.
        from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

        parameters = self.spec.parameters
        return FunctionSchema(
            name=self.spec.name,
            description=self.spec.description,
            properties=dict(parameters.get("properties", {})),
            required=list(parameters.get("required", [])),
            handler=handler,
        )

    async def invoke(self, arguments: Mapping[str, Any] | None, *, call_id: str) -> ToolResult:
        """Validate the LLM's arguments, send them, and turn the answer into a result."""
        started = time.perf_counter()

        def result(
            content: Any, status: ToolStatus, *, http: int | None = None, detail: str | None = None
        ) -> ToolResult:
            latency = round((time.perf_counter() - started) * 1000, 1)
            return ToolResult(content, status, latency, http, detail)

        if self._validator is None:
            message = "the tool is misconfigured: its parameter schema is invalid"
            return result({"error": message}, "failed", detail=self._schema_problem)
        args = {} if arguments is None else arguments
        problem = self._argument_problem(self._validator, args)
        if problem is not None:
            return result({"error": f"invalid arguments: {problem}"}, "invalid_arguments")
        try:
            response = await self._send(dict(args), call_id)
        except BlockedDestination as exc:
            log.warning("tool_destination_blocked", tool=self.name, call_id=call_id, reason=exc.reason)
            return result(
                {"error": "the tool's address is not reachable from this platform"}, "blocked", detail=str(exc)
            )
        except FetchTimeout as exc:
            message = f"the tool did not answer within {self.spec.timeout_s:g} seconds"
            return result({"error": message}, "timeout", detail=str(exc))
        except ResponseTooLarge as exc:
            return result({"error": "the tool's answer was too large"}, "bad_reply", detail=str(exc))
        except FetchFailed as exc:
            return result({"error": "the tool could not be reached"}, "failed", detail=str(exc))
        except Exception as exc:  # a tool must never take the call down with it
            log.exception("tool_failed", tool=self.name, call_id=call_id)
            return result({"error": "the tool failed"}, "failed", detail=f"{type(exc).__name__}: {exc}")
        content, status, detail = _interpret(response)
        return result(content, status, http=response.status_code, detail=detail)

    @staticmethod
    def _argument_problem(validator: Draft202012Validator, arguments: Any) -> str | None:
        if not isinstance(arguments, Mapping):
            return "the arguments must be a JSON object"
        try:
            error = best_match(validator.iter_errors(dict(arguments)))
        except Exception as exc:  # e.g. a $ref that cannot be resolved: nothing is fetched from the network
            return f"the tool's parameter schema cannot be applied ({type(exc).__name__})"
        if error is None:
            return None
        where = f" (at {error.json_path})" if error.absolute_path else ""
        return _short(error.message) + where

    async def _send(self, arguments: dict[str, Any], call_id: str) -> SafeResponse:
        method = self.spec.method
        headers = dict(self.spec.headers)
        params: list[tuple[str, str]] | None = None
        if method in _BODY_METHODS:
            body = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = b""
            params = _query(arguments)
        headers["Accept"] = "application/json, text/plain;q=0.9, */*;q=0.1"
        headers["X-BVRAI-Call-Id"] = call_id
        if self._bearer:
            headers["Authorization"] = f"Bearer {self._bearer}"
        headers.update(self._signer.headers(body))
        return await self._client.request(
            method,
            str(self.spec.url),
            headers=headers,
            params=params,
            content=body or None,
            total_timeout=self.spec.timeout_s,
            max_response_bytes=MAX_REPLY_BYTES,
        )


def _short(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # true/false, 3, 2.5


def _query(arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in arguments.items():
        if value is None:
            continue
        if isinstance(value, list) and all(not isinstance(v, (list, dict)) and v is not None for v in value):
            pairs.extend((key, _scalar(v)) for v in value)
        elif isinstance(value, (list, dict)):
            pairs.append((key, json.dumps(value, ensure_ascii=False, separators=(",", ":"))))
        else:
            pairs.append((key, _scalar(value)))
    return pairs


def _is_json_type(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _bounded(value: Any) -> Any:
    """The value itself when it is small enough for the LLM, otherwise its JSON text, cut."""
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= MAX_RESULT_CHARS:
        return value
    return {"result": _short(text, MAX_RESULT_CHARS), "truncated": True}


def _interpret(response: SafeResponse) -> tuple[Any, ToolStatus, str | None]:
    """The LLM's view of an answer: its JSON or text when it succeeded, a readable error otherwise."""
    content_type = response.content_type
    parsed: Any = None
    is_json = False
    if response.content and (_is_json_type(content_type) or not content_type):
        try:
            parsed, is_json = response.json(), True
        except ValueError:
            parsed = None
    if not response.is_success:
        error: dict[str, Any] = {"error": f"the tool answered with HTTP status {response.status_code}"}
        if is_json:
            error["response"] = _bounded(parsed)
        elif response.content and (content_type.startswith("text/") or not content_type):
            error["response"] = _short(response.text, 1000)
        return error, "http_error", None
    if not response.content:
        return {"result": "done"}, "ok", None
    if is_json:
        return _bounded(parsed), "ok", None
    if _is_json_type(content_type):
        return {"error": "the tool answered with malformed JSON"}, "bad_reply", _short(response.text, 500)
    if content_type.startswith("text/") or not content_type:
        return {"result": _short(response.text, MAX_RESULT_CHARS)}, "ok", None
    return {"error": f"the tool answered with {content_type}, not JSON"}, "bad_reply", None
