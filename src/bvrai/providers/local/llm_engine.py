"""The local LLM engine: one llama.cpp model per process, run on its own thread, shared by every call.

``llama_cpp.Llama`` holds one context (one KV cache) and is not safe to use from two threads at once.
So each engine owns one thread: every request from every call session is a job on that thread, run to
the end in arrival order. A new request therefore never cuts off another call's reply (what
``llama_cpp.server`` does by default with ``interrupt_requests``); it waits its turn. A request whose
caller has gone (barge-in, hang-up) stops at the next token, and one cancelled while still queued is
skipped when its turn comes, so an interrupted call does not hold the others up.

Live calls come before background work. A *background* request (post-call analysis) runs only when
no live request is queued, and gives way to one that arrives while it generates: it stops at the next
token and goes back behind the live work, to start again from its prompt later (llama.cpp reuses the
prompt's tokens still in the KV cache, so a restart costs the evaluation of what changed). Without
this a call ending would take the model for the ten-odd seconds its summary needs while the other
calls' callers wait for their next reply. A background request's text is handed over only when it is
complete, so a restart never repeats text to its reader. Background work has a llama.cpp context of
its own: sharing one, a summary would replace a live call's prompt in the KV cache, and that call's
next turn would pay to evaluate its whole prompt again.

Tokens are produced on the engine thread and handed to the caller's event loop one by one
(``call_soon_threadsafe``); llama.cpp releases the GIL while it computes, so the event loop carrying
the calls' audio keeps running.

The prompt is rendered with the GGUF's own chat template (Qwen2.5's, which lists the tools and asks for
``<tool_call>`` blocks), tokenised with special tokens, and decoded with special tokens kept so the
tool-call tags reach the parser (``tool_calls.py``) instead of vanishing.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import functools
import itertools
import json
import os
import queue
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import llama_cpp.llama_cpp as llama_lib
import structlog
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

from bvrai.providers.base import ProviderRequestError
from bvrai.providers.local.models import ensure_gguf

log = structlog.get_logger(__name__)

DEFAULT_N_CTX = 8192  # a long call with tools fits; the KV cache of this model costs ~12 KB a token


@dataclass(frozen=True)
class GenerationRequest:
    messages: list[dict[str, Any]]  # OpenAI-shaped, already normalised for the template (see llm.py)
    tools: list[dict[str, Any]] | None = None
    max_tokens: int = 512
    temperature: float = 0.7
    # Qwen2.5's recommended sampling; top_k/min_p are not in OpenAI's protocol, so they are fixed here.
    top_p: float = 0.8
    top_k: int = 20
    min_p: float = 0.0
    # No repetition penalty (OpenAI's protocol has none): it penalises the braces and quotes a JSON tool
    # call must repeat, and the 0.5B model then ends the call's JSON early.
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    json_mode: bool = False
    background: bool = False  # yields to live calls' requests (see the module's docstring)


@dataclass(frozen=True)
class Finished:
    """The last item of a stream: token counts and why generation stopped (``stop`` or ``length``)."""

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


_DONE = object()
LIVE, BACKGROUND, STOP = 1, 2, 0  # queue priorities: lower runs first


class _Preempted(Exception):
    """A background generation gave way to a live request."""


@dataclass
class _Loaded:
    llama: llama_cpp.Llama
    formatter: Jinja2ChatFormatter
    is_eog: Callable[[int], bool]
    load_seconds: float
    assemble_action: str


class LlamaEngine:
    def __init__(self, cache_dir: Path, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self._jobs: queue.PriorityQueue[tuple[int, int, Callable[[], None] | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._live_queued = 0
        self.background_yields = 0  # how often background work gave way to a live request
        self._loaded: _Loaded | None = None
        self._background: _Loaded | None = None
        self.model_name = ""

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def load_info(self) -> dict[str, Any]:
        if self._loaded is None:
            return {}
        return {"seconds": self._loaded.load_seconds, "gguf": self._loaded.assemble_action}

    async def load(self) -> None:
        """Assemble the GGUF if needed and load it, on the engine thread (a no-op once loaded)."""
        await asyncio.wrap_future(self._submit(self._load, priority=LIVE))

    # --- the engine thread ---------------------------------------------------------------------------------

    def _submit(self, fn: Callable[[], Any], *, priority: int) -> Future[Any]:
        future: Future[Any] = Future()

        def job() -> None:
            if priority == LIVE:
                with self._lock:
                    self._live_queued -= 1
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="bvrai-llm", daemon=True)
                self._thread.start()
            if priority == LIVE:
                self._live_queued += 1
        self._jobs.put((priority, next(self._order), job))
        return future

    def _work(self) -> None:
        while True:
            _, _, job = self._jobs.get()
            if job is None:
                with self._lock:
                    self._thread = None  # a later request starts a new one
                return
            job()

    def _live_waiting(self) -> bool:
        return self._live_queued > 0

    def _load(self) -> _Loaded:
        if self._loaded is None:
            self._loaded = self._open()
            log.info(
                "local_llm_loaded",
                model=self.model_name,
                gguf=self._loaded.assemble_action,
                threads=self.n_threads,
                seconds=round(self._loaded.load_seconds, 2),
            )
        return self._loaded

    def _load_background(self) -> _Loaded:
        """A second context for background work, so that it never evicts the live calls' prompts
        from the KV cache (llama.cpp maps the GGUF, so the weights' memory is shared with the first)."""
        self._load()
        if self._background is None:
            self._background = self._open()
        return self._background

    def _open(self) -> _Loaded:
        started = time.monotonic()
        prepared = ensure_gguf(self.cache_dir)
        with _model_params_for_this_cpu():
            llama = llama_cpp.Llama(
                str(prepared.path), n_ctx=self.n_ctx, n_threads=self.n_threads, n_batch=512, verbose=False
            )
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ProviderRequestError("llm:local", f"{prepared.path} carries no chat template")
        vocab = llama._model.vocab  # llama-cpp-python's own create_completion reads it the same way
        formatter = Jinja2ChatFormatter(
            template,
            eos_token=llama.detokenize([llama.token_eos()], special=True).decode(),
            bos_token=llama.detokenize([llama.token_bos()], special=True).decode(),
        )
        self.model_name = str(llama.metadata.get("general.name", prepared.path.stem))
        return _Loaded(
            llama=llama,
            formatter=formatter,
            is_eog=lambda token: bool(llama_lib.llama_vocab_is_eog(vocab, token)),
            load_seconds=time.monotonic() - started,
            assemble_action=prepared.action,
        )

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[str | Finished, None]:
        """Text pieces as they are decoded, then one ``Finished``.

        Leaving the iteration early (``aclose``, cancellation) stops the generation at the next token.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the caller's event loop is closed: nobody is listening any more
                cancelled.set()

        self._submit(
            functools.partial(self._run_job, request, emit, cancelled),
            priority=BACKGROUND if request.background else LIVE,
        )
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, str | Finished)
                yield item
        finally:
            # Not awaiting the job: a barge-in must not wait for the thread to notice.
            cancelled.set()

    def _run_job(self, request: GenerationRequest, emit: Callable[[object], None], cancelled: threading.Event) -> None:
        held: list[object] = []
        try:
            if not cancelled.is_set():
                if request.background:
                    self._generate(self._load_background(), request, held.append, cancelled)
                else:
                    self._generate(self._load(), request, emit, cancelled)
        except _Preempted:
            self.background_yields += 1
            log.info("local_llm_background_yielded", times=self.background_yields)
            self._submit(functools.partial(self._run_job, request, emit, cancelled), priority=BACKGROUND)
            return
        except BaseException as exc:  # handed to the caller; nothing may escape the engine thread unseen
            emit(exc)
        else:
            for item in held:
                emit(item)
        emit(_DONE)

    def _generate(
        self,
        loaded: _Loaded,
        request: GenerationRequest,
        emit: Callable[[object], None],
        cancelled: threading.Event,
    ) -> None:
        llama = loaded.llama
        tokens = self._prompt_tokens(loaded, request)
        if request.seed is not None:
            llama.set_seed(request.seed)
        grammar = None
        if request.json_schema is not None:
            grammar = LlamaGrammar.from_json_schema(json.dumps(request.json_schema), verbose=False)
        elif request.json_mode:
            grammar = LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        produced, finish = 0, "length"
        generator = llama.generate(
            tokens,
            temp=request.temperature,
            top_k=request.top_k,
            top_p=request.top_p,
            min_p=request.min_p,
            repeat_penalty=request.repeat_penalty,
            frequency_penalty=request.frequency_penalty,
            presence_penalty=request.presence_penalty,
            grammar=grammar,
        )
        try:
            for token in _bounded(generator, request.max_tokens):
                if cancelled.is_set():
                    finish = "cancelled"
                    break
                if request.background and self._live_waiting():
                    raise _Preempted
                if loaded.is_eog(token):
                    finish = "stop"
                    break
                produced += 1
                piece = decoder.decode(llama.detokenize([token], special=True))
                if piece:
                    emit(piece)
        except _Preempted:
            raise  # between two tokens: the KV cache is in order
        except BaseException:
            llama.reset()  # type: ignore[no-untyped-call]  # a failed eval leaves the KV cache in an unknown state; start clean next time
            raise
        finally:
            generator.close()
        if tail := decoder.decode(b"", final=True):
            emit(tail)
        emit(Finished(prompt_tokens=len(tokens), completion_tokens=produced, finish_reason=finish))

    def _prompt_tokens(self, loaded: _Loaded, request: GenerationRequest) -> list[int]:
        """The rendered prompt as tokens, dropping the oldest turns if the conversation outgrew the context."""
        messages = list(request.messages)
        budget = self.n_ctx - request.max_tokens
        while True:
            # Plain dicts shaped like llama-cpp-python's TypedDict messages and tools.
            rendered = loaded.formatter(messages=messages, tools=request.tools or None)  # type: ignore[arg-type]
            prompt = rendered.prompt
            tokens: list[int] = loaded.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            if len(tokens) <= budget:
                return tokens
            # Keep the system prompt and the latest message; forget the oldest turn in between.
            first = 1 if messages and messages[0].get("role") == "system" else 0
            if len(messages) - first <= 1:
                raise ProviderRequestError(
                    "llm:local",
                    f"the prompt needs {len(tokens)} tokens; with max_tokens {request.max_tokens} "
                    f"the context of {self.n_ctx} cannot hold it",
                )
            del messages[first]

    def close(self) -> None:
        """Stop the engine thread after the job it is running; queued jobs are dropped."""
        self._jobs.put((STOP, next(self._order), None))


def _bounded(tokens: Iterator[int], limit: int) -> Iterator[int]:
    for count, token in enumerate(tokens):
        if count >= limit:
            return
        yield token


def default_threads() -> int:
    """Threads for llama.cpp: ``BVRAI_LOCAL_LLM_THREADS``, else every core but one, at most 8.

    ggml's threads meet at spin barriers after every operation, so the LLM collapses as soon as anything
    else wants a core: measured on two cores with 2 threads, 25 tokens/s alone but 1.2 tokens/s with a
    second busy process, and 0.6 tokens/s on a machine busy with other work; with 1 thread, 13 tokens/s
    alone and 6-9 tokens/s under the same loads. A voice server always has other work (the calls'
    audio, Whisper, the TTS), so one core is left for it. Past ~8 threads a 0.5B model stops gaining.
    """
    if configured := os.environ.get("BVRAI_LOCAL_LLM_THREADS", "").strip():
        return max(1, int(configured))
    return max(1, min((os.cpu_count() or 2) - 1, 8))


# --- CPU quirks ---------------------------------------------------------------------------------------------------

_params_lock = threading.Lock()


def _extra_buffers_wanted() -> bool:
    """Whether llama.cpp may use its "extra" CPU weight buffers (AMX tiles, repacked layouts).

    On a CPU with Intel AMX, a native build of llama-cpp-python 0.3.36 routes this model's matrix
    products through ggml's AMX kernels, which crashed the process at the first token (SIGSEGV in
    ``ggml_backend_amx_mul_mat``, whatever the thread count). With the extra buffers off the same build
    runs at ~23 tokens/s on two cores. ``BVRAI_LOCAL_LLM_EXTRA_BUFFERS=1`` (or ``0``) overrides the
    detection, e.g. for a build made with ``-DGGML_AMX_INT8=OFF`` that keeps the repacked layouts.
    """
    setting = os.environ.get("BVRAI_LOCAL_LLM_EXTRA_BUFFERS", "auto").strip().lower()
    if setting in ("1", "true", "yes", "on"):
        return True
    if setting in ("0", "false", "no", "off"):
        return False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True
    return " amx_" not in cpuinfo


@contextlib.contextmanager
def _model_params_for_this_cpu() -> Iterator[None]:
    """Build ``Llama`` with ``use_extra_bufts`` off when needed.

    ``Llama.__init__`` takes no argument for it and fills its model parameters from
    ``llama_cpp.llama_model_default_params()``, so the defaults function is swapped for the duration of
    the constructor, under a lock (loads are rare: once per process).
    """
    if _extra_buffers_wanted():
        yield
        return
    with _params_lock:
        original = llama_lib.llama_model_default_params

        def without_extra_buffers() -> Any:
            params = original()
            params.use_extra_bufts = False
            return params

        llama_lib.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            llama_lib.llama_model_default_params = original


# --- one engine per process ---------------------------------------------------------------------------------------

_engines: dict[tuple[str, int, int], LlamaEngine] = {}
_engines_lock = threading.Lock()


def get_engine(cache_dir: Path, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None) -> LlamaEngine:
    """The process-wide engine for this model cache (created on first use; loads lazily)."""
    threads = n_threads or default_threads()
    key = (str(Path(cache_dir).resolve()), n_ctx, threads)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = LlamaEngine(Path(cache_dir), n_ctx=n_ctx, n_threads=threads)
            _engines[key] = engine
        return engine


def engine_count() -> int:
    return len(_engines)
