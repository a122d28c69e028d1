"""The local LLM as a pipecat service: pipecat's ``OpenAILLMService`` driving llama.cpp in this process.

Why this shape. The call session registers tools (``end_call``, ``transfer_call``, custom HTTP tools) on
the LLM service with pipecat's function-calling API, so the local LLM must produce real OpenAI-style
tool calls. Two ways were weighed:

(a) ``python -m llama_cpp.server`` as a managed subprocess on a free 127.0.0.1 port, with pipecat's
    ``OpenAILLMService(base_url=...)`` in front. Tried with llama-cpp-python 0.3.36 and this model:
    the server renders the tools into Qwen2.5's prompt, but for ``tool_choice="auto"`` it returns the
    model's ``<tool_call>`` block as ordinary content (it parses calls only for its own
    function-calling chat formats), so the agent would *say* the JSON instead of ending the call. It
    also drops special tokens when decoding, so the tags vanish and the call cannot be recovered
    reliably on the client side either. It would also add a second process per worker, a port, and a
    start-up race to manage.
(b) llama.cpp in process. Chosen. ``LlamaEngine`` (llm_engine.py) owns the model and one thread;
    ``ToolCallParser`` (tool_calls.py) turns Qwen's tool-call text into calls. ``LocalChatClient``
    below speaks the slice of the ``AsyncOpenAI`` client that pipecat uses
    (``client.chat.completions.create(**params)``, streamed or not) and yields genuine
    ``openai`` ``ChatCompletionChunk`` objects. ``LocalLLMService`` is ``OpenAILLMService`` with that
    client, so context handling, function calling, interruptions and metrics are pipecat's own code,
    exactly as with a cloud model; only the transport is replaced.

When ``base_url`` is set (in the spec, or by the operator), the service is a plain ``OpenAILLMService``
against that server (a llama.cpp server elsewhere, vLLM, Ollama...).
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pipecat.frames.frames import StartFrame
from pipecat.services.openai.base_llm import OpenAILLMSettings
from pipecat.services.openai.llm import OpenAILLMService

from bvrai.providers.base import ProviderContext, ProviderRequestError
from bvrai.providers.local.llm_engine import Finished, GenerationRequest, LlamaEngine, get_engine
from bvrai.providers.local.models import default_cache_dir
from bvrai.providers.local.tool_calls import TextPiece, ToolCall, ToolCallParser

# Names an agent spec may give the bundled model (the registry's default first). The GGUF itself is
# Qwen2.5-Coder-0.5B-Instruct; "qwen2.5-0.5b-instruct" is the name the registry declared for it.
BUNDLED_MODEL_NAMES = ("qwen2.5-0.5b-instruct", "qwen2.5-coder-0.5b-instruct")


def _given(value: Any) -> bool:
    return value is not None and not isinstance(value, openai.NotGiven | openai.Omit)


def _text_of(content: Any) -> str:
    """OpenAI content (a string, parts, or None) as the plain string Qwen's template concatenates."""
    if content is None or not _given(content):
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content)


def _template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reshape OpenAI messages for Qwen2.5's Jinja template.

    The template concatenates ``content`` as a string (a list or None would fail to render), knows no
    ``developer`` role, and writes each earlier call's ``arguments`` with ``tojson``, so they must be
    objects rather than the JSON strings the OpenAI protocol carries (or they would be quoted twice).
    """
    shaped: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role", "user")
        role = {"developer": "system", "function": "tool"}.get(role, role)
        item: dict[str, Any] = {"role": role, "content": _text_of(message.get("content"))}
        calls = message.get("tool_calls")
        if role == "assistant" and calls:
            item["tool_calls"] = []
            for call in calls:
                function = call.get("function", {})
                arguments = function.get("arguments") or "{}"
                if isinstance(arguments, str):
                    try:
                        arguments = json.loads(arguments)
                    except ValueError:
                        arguments = {}
                item["tool_calls"].append(
                    {"type": "function", "function": {"name": function.get("name", ""), "arguments": arguments}}
                )
        shaped.append(item)
    return shaped


def generation_request(params: dict[str, Any]) -> GenerationRequest:
    """The engine request for the keyword arguments pipecat passes to ``chat.completions.create``."""
    tools = params.get("tools")
    tool_choice = params.get("tool_choice")
    if not _given(tools) or not tools or tool_choice == "none":
        tools = None
    max_tokens = next(
        (params[k] for k in ("max_completion_tokens", "max_tokens") if _given(params.get(k))),
        512,
    )
    fmt = params.get("response_format")
    fmt = fmt if _given(fmt) and isinstance(fmt, dict) else {}
    schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else None
    optional = {
        name: float(params[name])
        for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty")
        if _given(params.get(name))
    }
    return GenerationRequest(
        messages=_template_messages(list(params.get("messages") or [])),
        tools=list(tools) if tools else None,
        max_tokens=int(max_tokens),
        seed=int(params["seed"]) if _given(params.get("seed")) else None,
        json_schema=schema,
        json_mode=fmt.get("type") == "json_object",
        **optional,  # type: ignore[arg-type]
    )


class _ChunkStream:
    """What ``create(stream=True)`` returns: an async iterator of ``ChatCompletionChunk`` with ``close()``."""

    def __init__(self, engine: LlamaEngine, request: GenerationRequest, model: str) -> None:
        self._engine = engine
        self._request = request
        self._model = model
        self._id = f"chatcmpl-local-{uuid.uuid4().hex}"
        self._created = int(time.time())
        self._source: Any = None

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._chunks()

    async def close(self) -> None:
        if self._source is not None:
            await self._source.aclose()

    def _chunk(self, delta: dict[str, Any] | None, *, finish: str | None = None, usage: Any = None) -> Any:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        return ChatCompletionChunk.model_validate(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": choices,
                "usage": usage,
            }
        )

    async def _chunks(self) -> AsyncIterator[ChatCompletionChunk]:
        tool_names = [t.get("function", {}).get("name", "") for t in self._request.tools or []]
        parser = ToolCallParser(tool_names)
        calls = 0
        source = self._source = self._engine.stream(self._request)
        try:
            yield self._chunk({"role": "assistant", "content": ""})
            async for item in source:
                if isinstance(item, Finished):
                    for event in parser.finish():
                        chunk, calls = self._event_chunk(event, calls)
                        yield chunk
                    finish = "tool_calls" if calls else ("length" if item.finish_reason == "length" else "stop")
                    yield self._chunk({}, finish=finish)
                    yield self._chunk(
                        None,
                        usage={
                            "prompt_tokens": item.prompt_tokens,
                            "completion_tokens": item.completion_tokens,
                            "total_tokens": item.prompt_tokens + item.completion_tokens,
                        },
                    )
                    return
                for event in parser.feed(item):
                    chunk, calls = self._event_chunk(event, calls)
                    yield chunk
        finally:
            # Leaving an `async for` early does not close its iterator; without this the engine would
            # only hear of a barge-in when the garbage collector finalised the generator.
            await source.aclose()

    def _event_chunk(self, event: TextPiece | ToolCall, calls: int) -> tuple[Any, int]:
        if isinstance(event, TextPiece):
            return self._chunk({"content": event.text}), calls
        delta = {
            "tool_calls": [
                {
                    "index": calls,
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {"name": event.name, "arguments": event.arguments},
                }
            ]
        }
        return self._chunk(delta), calls + 1


class _Completions:
    def __init__(self, engine: LlamaEngine, model: str, *, background: bool) -> None:
        self._engine = engine
        self._model = model
        self._background = background

    async def create(self, **params: Any) -> Any:
        request = dataclasses.replace(generation_request(params), background=self._background)
        stream = _ChunkStream(self._engine, request, self._model)
        if params.get("stream"):
            return stream
        return await _collect(stream)


async def _collect(stream: _ChunkStream) -> ChatCompletion:
    """A non-streamed ``ChatCompletion`` from the same chunks (pipecat's ``run_inference`` asks for one)."""
    text: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    finish, usage, last = "stop", None, None
    async for chunk in stream:
        last = chunk
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            if choice.delta.content:
                text.append(choice.delta.content)
            for call in choice.delta.tool_calls or []:
                tool_calls.append(call.model_dump(exclude={"index"}, exclude_none=True))
    assert last is not None
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return ChatCompletion.model_validate(
        {
            "id": last.id,
            "object": "chat.completion",
            "created": last.created,
            "model": last.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage.model_dump() if usage else None,
        }
    )


class LocalChatClient:
    """The part of ``openai.AsyncOpenAI`` pipecat's OpenAI service calls, answered by the local engine."""

    def __init__(self, engine: LlamaEngine, model: str, *, background: bool = False) -> None:
        self.chat = SimpleNamespace(completions=_Completions(engine, model, background=background))

    async def close(self) -> None:
        # Nothing to release per service: the engine is shared by the process.
        return None


class LocalLLMService(OpenAILLMService):
    """``OpenAILLMService`` whose client is the in-process llama.cpp engine."""

    # Qwen's template has no developer role; pipecat then sends developer messages as user messages.
    supports_developer_role = False
    _settings: OpenAILLMSettings  # pipecat declares it through a class alias mypy cannot follow

    def __init__(
        self, *, engine: LlamaEngine, settings: OpenAILLMSettings, background: bool = False, **kwargs: Any
    ) -> None:
        # Set before the base constructor, which calls create_client().
        self._engine = engine
        self._background = background
        super().__init__(api_key="local", settings=settings, **kwargs)

    def create_client(
        self,
        api_key: Any = None,
        base_url: Any = None,
        organization: Any = None,
        project: Any = None,
        default_headers: Any = None,
        **kwargs: Any,
    ) -> Any:
        # Called by the base constructor; the connection arguments mean nothing in process.
        model = self._settings.model if isinstance(self._settings.model, str) else BUNDLED_MODEL_NAMES[0]
        return LocalChatClient(self._engine, model, background=self._background)

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        # Load (and assemble the GGUF on first start) now, off the event loop, rather than during the
        # caller's first turn. A failure is reported here and raised again by the first request.
        try:
            await self._engine.load()
        except Exception as exc:
            await self.push_error(f"local LLM unavailable: {exc}", exception=exc)


def create_llm_service(config: Any, ctx: ProviderContext) -> OpenAILLMService:
    """Factory for ``("llm", "local")``.

    Returns ``LocalLLMService`` (the bundled model, in process) or, when a ``base_url`` is given, a plain
    ``OpenAILLMService`` pointed at that OpenAI-compatible server. ``ctx.extra`` may carry
    ``model_cache_dir`` (where the GGUF is assembled; default ``BVRAI_MODEL_CACHE_DIR`` or
    ``<BVRAI_DATA_DIR>/models``), ``llm_threads``, ``llm_context_tokens`` and ``background`` (work
    that gives way to live calls, such as post-call analysis).
    """
    model = getattr(config, "model", None) or BUNDLED_MODEL_NAMES[0]
    settings = OpenAILLMService.Settings(
        model=model,
        temperature=float(getattr(config, "temperature", 0.7)),
        max_tokens=int(getattr(config, "max_tokens", 300)),
    )
    base_url = ctx.base_url or getattr(config, "base_url", None)
    if base_url:
        # llama.cpp's server ignores the key; a real OpenAI-compatible server gets the vault's secret.
        return OpenAILLMService(api_key=ctx.secret or "local", base_url=base_url, settings=settings)
    if model not in BUNDLED_MODEL_NAMES:
        raise ProviderRequestError(
            "llm:local",
            f"no bundled model {model!r}; bundled: {', '.join(BUNDLED_MODEL_NAMES)} "
            "(set base_url to use another model on an OpenAI-compatible server)",
        )
    engine = get_engine(
        Path(ctx.extra.get("model_cache_dir") or default_cache_dir()),
        n_threads=ctx.extra.get("llm_threads"),
        **({"n_ctx": int(ctx.extra["llm_context_tokens"])} if ctx.extra.get("llm_context_tokens") else {}),
    )
    return LocalLLMService(engine=engine, settings=settings, background=bool(ctx.extra.get("background")))


async def preload(cache_dir: Path | None = None) -> LlamaEngine:
    """Assemble and load the bundled model now, so the first call does not wait for it."""
    engine = get_engine(cache_dir or default_cache_dir())
    await engine.load()
    return engine
