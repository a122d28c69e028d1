"""The local LLM answers through pipecat's OpenAI service machinery: streamed text, tool calls, queued calls.

Temperature 0 throughout, so the replies of the 0.5B model are as repeatable as llama.cpp allows.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    FunctionCallResultFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.llm_service import FunctionCallParams
from pipecat.services.openai.llm import OpenAILLMService

from bvrai.agents.spec import LLMConfig
from bvrai.providers.base import ProviderContext, ProviderRequestError
from bvrai.providers.local import create_llm_service
from bvrai.providers.local.llm import LocalChatClient, LocalLLMService
from bvrai.providers.local.llm_engine import get_engine
from tests.providers.local.harness import run_service

SYSTEM = {"role": "system", "content": "You are a friendly phone agent for Acme Dental. Reply in one short sentence."}
END_CALL = FunctionSchema(
    name="end_call",
    description="End the phone call. Use it when the caller says goodbye or asks to hang up.",
    properties={"reason": {"type": "string", "description": "Why the call ends"}},
    required=[],
)


@pytest.fixture
def ctx(model_cache_dir: Path) -> ProviderContext:
    return ProviderContext(org_id="org_test", extra={"model_cache_dir": str(model_cache_dir)})


def _ended(frames: list[Frame]) -> bool:
    return any(isinstance(f, LLMFullResponseEndFrame) for f in frames)


def _spoken(frames: list[Frame]) -> str:
    return "".join(f.text for f in frames if isinstance(f, LLMTextFrame))


async def test_a_simple_prompt_gets_a_streamed_reply(ctx):
    service = create_llm_service(LLMConfig(temperature=0.0, max_tokens=40), ctx)
    assert isinstance(service, LocalLLMService)
    context = LLMContext(
        messages=[SYSTEM, {"role": "user", "content": "In one sentence: what is the capital of France?"}]
    )

    frames = await run_service(service, [LLMContextFrame(context)], until=_ended)

    pieces = [f for f in frames if isinstance(f, LLMTextFrame)]
    assert len(pieces) >= 3  # token by token, not one block at the end
    assert "Paris" in _spoken(frames)


async def test_the_llm_calls_a_registered_function_instead_of_speaking_json(ctx):
    service = create_llm_service(LLMConfig(temperature=0.0, max_tokens=80), ctx)
    calls: list[dict[str, Any]] = []

    async def end_call(params: FunctionCallParams) -> None:
        calls.append(dict(params.arguments))
        await params.result_callback({"ended": True})

    service.register_function("end_call", end_call)
    context = LLMContext(
        messages=[SYSTEM, {"role": "user", "content": "Thanks, that's all I needed. Please end the call now. Bye!"}],
        tools=ToolsSchema(standard_tools=[END_CALL]),
    )

    frames = await run_service(
        service,
        [LLMContextFrame(context)],
        until=lambda seen: any(isinstance(f, FunctionCallResultFrame) for f in seen),
    )

    assert len(calls) == 1
    spoken = _spoken(frames)
    assert "{" not in spoken and "tool_call" not in spoken and "end_call" not in spoken


async def test_the_reply_after_a_function_result_renders_the_call_history(ctx):
    # The OpenAI protocol carries earlier calls' arguments as JSON strings; Qwen's template needs objects.
    engine = get_engine(Path(ctx.extra["model_cache_dir"]))
    client = LocalChatClient(engine, "qwen2.5-0.5b-instruct")
    messages = [
        SYSTEM,
        {"role": "user", "content": "Can you check whether Tuesday at 9 is free?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "check_slot", "arguments": '{"day": "Tuesday", "time": "09:00"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"free": true}'},
    ]
    reply = await client.chat.completions.create(messages=messages, temperature=0.0, max_tokens=40, stream=False)
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.prompt_tokens > 50


async def _complete(client: LocalChatClient, question: str, max_tokens: int = 30) -> tuple[str, str, float]:
    stream = await client.chat.completions.create(
        messages=[SYSTEM, {"role": "user", "content": question}], temperature=0.0, max_tokens=max_tokens, stream=True
    )
    text, finish = [], ""
    async for chunk in stream:
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    return "".join(text), finish, time.monotonic()


async def test_two_calls_at_once_both_get_their_whole_reply(ctx):
    # llama.cpp's server would cut the first reply off when the second request arrives; here it queues.
    client = LocalChatClient(get_engine(Path(ctx.extra["model_cache_dir"])), "qwen2.5-0.5b-instruct")
    (first, first_finish, _), (second, second_finish, _) = await asyncio.gather(
        _complete(client, "What are your opening hours?"),
        _complete(client, "Do you take new patients?"),
    )
    assert first and second
    assert first_finish in ("stop", "length") and second_finish in ("stop", "length")


async def test_an_abandoned_reply_stops_and_frees_the_model_for_the_next_call(ctx):
    client = LocalChatClient(get_engine(Path(ctx.extra["model_cache_dir"])), "qwen2.5-0.5b-instruct")
    long_reply = await client.chat.completions.create(
        messages=[SYSTEM, {"role": "user", "content": "Count from one to two hundred in words."}],
        temperature=0.0,
        max_tokens=400,
        stream=True,
    )
    iterator = long_reply.__aiter__()
    for _ in range(4):
        await iterator.__anext__()
    await iterator.aclose()  # what pipecat does on barge-in

    started = time.monotonic()
    text, _finish, _ = await _complete(client, "Say hello.", max_tokens=10)
    # 400 tokens would take 15+ s on two cores; the next call only waits for the current token.
    assert text and time.monotonic() - started < 6


async def test_pipecats_out_of_band_inference_works(ctx):
    service = create_llm_service(LLMConfig(temperature=0.0, max_tokens=30), ctx)
    context = LLMContext(messages=[{"role": "user", "content": "Reply with the single word: ready"}])
    reply = await service.run_inference(context)
    assert reply and "ready" in reply.lower()


async def test_a_model_that_cannot_load_is_reported_without_breaking_the_pipeline(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the model cache should be")
    service = create_llm_service(
        LLMConfig(), ProviderContext(org_id="org_test", extra={"model_cache_dir": str(blocked)})
    )
    context = LLMContext(messages=[{"role": "user", "content": "Hello?"}])

    errors = await run_service(
        service,
        [LLMContextFrame(context)],
        until=lambda seen: sum(isinstance(f, ErrorFrame) for f in seen) >= 2,  # at start, then for the request
        upstream=True,
    )

    messages = [f.error for f in errors if isinstance(f, ErrorFrame)]
    assert all("cannot assemble" in m and str(blocked) in m and "BVRAI_MODEL_CACHE_DIR" in m for m in messages)
    assert not any(f.fatal for f in errors if isinstance(f, ErrorFrame))


def test_every_service_of_the_process_shares_one_engine(ctx):
    first = create_llm_service(LLMConfig(), ctx)
    second = create_llm_service(LLMConfig(temperature=0.2), ctx)
    assert first._engine is second._engine


def test_a_base_url_means_an_openai_compatible_server_elsewhere(ctx):
    service = create_llm_service(LLMConfig(base_url="http://127.0.0.1:8080/v1", model="my-model"), ctx)
    assert type(service) is OpenAILLMService
    assert str(service._client.base_url).startswith("http://127.0.0.1:8080/v1")
    via_operator = create_llm_service(LLMConfig(), ProviderContext(org_id="o", base_url="http://10.0.0.5:8000/v1"))
    assert type(via_operator) is OpenAILLMService


def test_an_unbundled_model_without_base_url_is_refused(ctx):
    with pytest.raises(ProviderRequestError, match="no bundled model 'llama-3-70b'"):
        create_llm_service(LLMConfig(model="llama-3-70b"), ctx)


async def test_a_live_call_is_answered_before_a_summary_in_progress_finishes(ctx):
    """A call's post-call analysis runs on the same model as the live calls: it must give way."""
    engine = get_engine(Path(ctx.extra["model_cache_dir"]))
    summary_writer = LocalChatClient(engine, "qwen2.5-0.5b-instruct", background=True)
    caller = LocalChatClient(engine, "qwen2.5-0.5b-instruct")
    yields_before = engine.background_yields
    long_task = asyncio.create_task(
        _complete(summary_writer, "Write the numbers from one to three hundred in words.", max_tokens=300)
    )
    await asyncio.sleep(0.5)  # the engine was idle: the summary is being written
    reply, _finish, replied_at = await _complete(caller, "Say hello.", max_tokens=10)
    summary, summary_finish, summarised_at = await long_task
    assert reply and replied_at < summarised_at, "the live reply waited for the background summary"
    assert engine.background_yields == yields_before + 1
    # Restarted after it yielded, the summary still reached its reader once, whole.
    assert summary_finish in ("stop", "length") and summary.lower().count("two hundred") <= 1
