"""Voice-to-voice latency: BVRAI's call session against a bare pipecat pipeline, and the all-local stack.

    .venv/bin/python bench/latency.py [--turns N] [--calls M] [--local-calls K] [--skip-local]

Three variants hold the same simulated conversation (a greeting, then N short caller lines, each
answered in one sentence), with a caller that streams its microphone in real time over the web
media line (20 ms PCM16 frames at 16 kHz, ``bvrai.voice.simulator``):

(a) ``bvrai``: BVRAI's ``CallSession`` behind ``POST /v1/web-calls`` and ``/media/web``, the agent on
    Deepgram + OpenAI + ElevenLabs, each a local fake of the real wire protocol with fixed latencies;
(b) ``bare``: a bare pipecat pipeline (``bench/bare_pipeline.py``) with the same transport,
    serializer, VAD and turn settings, pipecat's same services and the same fakes, without BVRAI;
(c) ``local``: BVRAI's session on the default agent's local models (faster-whisper tiny.en, Qwen2.5
    0.5B through llama.cpp, hibari), warmed up first.

(a) and (b) alternate call by call (a, b, a, b...) in one process, so both see the same machine load.
Voice-to-voice latency is measured by the caller, identically for every variant: the arrival of
the first agent audio after a line minus the end of the line's speech, found in the PCM itself (the
end of its last 10 ms window louder than -40 dBFS; the synthesized line's trailing silence counts as
silence) and timed as a microphone would send it (a frame leaves once its 20 ms are captured).

Results go to ``bench/results/latency.json`` (``--out``) and a table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for ``tests.*`` (the fakes, the live server) and ``bench.*``

import httpx  # noqa: E402
from tests.conftest import make_settings, prepare_schema  # noqa: E402
from tests.live import serve  # noqa: E402

from bench.bare_pipeline import PATH as BARE_PATH  # noqa: E402
from bench.bare_pipeline import BareConfig, bare_app  # noqa: E402
from bench.fixed_latency_fakes import (  # noqa: E402
    FixedLatencyDeepgram,
    FixedLatencyElevenLabs,
    FixedLatencyOpenAI,
)
from bvrai.app import create_app  # noqa: E402
from bvrai.voice.caller_speech import synthesize  # noqa: E402
from bvrai.voice.simulator import FRAME_MS, SILENCE, SimulatedCaller, start_call, wait_until_ended  # noqa: E402
from bvrai.voice.web_serializer import WEB_SAMPLE_RATE  # noqa: E402

DEFAULT_OUT = ROOT / "bench" / "results" / "latency.json"

# The provider side of a turn, fixed: roughly what the real services cost from a well-placed server.
STT_FINAL_DELAY_S = 0.150  # Deepgram: final transcript after the Finalize sent at VAD stop
LLM_FIRST_TOKEN_S = 0.250  # OpenAI: request to first streamed token
LLM_TOKEN_INTERVAL_S = 0.015  # then one token every 15 ms (~65 tokens/s)
TTS_FIRST_AUDIO_S = 0.150  # ElevenLabs: text to first audio

RATIO_TARGET = 1.05
LOCAL_TARGET_MS = 1500.0

GREETING = "Hello, Bella Pizza, how can I help?"
SYSTEM_PROMPT = (
    "You are the receptionist of Bella Pizza. Answer in one short sentence. "
    "We are open from 11 am to 10 pm every day. We deliver in the city center within 30 minutes. "
    "We have vegetarian pizzas. Tables can be booked by phone."
)
# Natural short lines without commas (a pause over the VAD stop time would split a line in two).
LINES_AND_REPLIES = [
    ("What time do you open today?", "We open at eleven in the morning."),
    ("Do you deliver to the city center?", "Yes, we deliver all over the city center."),
    ("Can I book a table for two tonight?", "Of course, I have booked a table for two."),
    ("Do you have vegetarian pizzas?", "Yes, we have four vegetarian pizzas."),
    ("How long does delivery take?", "Delivery takes about thirty minutes."),
]
REPLIES = dict(LINES_AND_REPLIES)

SPEECH_FLOOR = 10 ** (-40 / 20) * 32768  # -40 dBFS as a PCM16 RMS (~328)
QUIET_S = 0.8  # the agent has finished once it has been silent this long
TURN_TIMEOUT_S = 20.0


# --- the caller ---------------------------------------------------------------------------------------------------


@dataclass
class Line:
    text: str
    pcm: bytes
    speech_end_s: float  # from the start of the PCM


def speech_end(pcm: bytes) -> float:
    """End of the last 10 ms window whose RMS is above -40 dBFS, in seconds from the start."""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    window = WEB_SAMPLE_RATE // 100
    n = len(samples) // window
    rms = np.sqrt((samples[: n * window].reshape(n, window) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms >= SPEECH_FLOOR)
    if not loud.size:
        raise ValueError("no speech in the line")
    return float((loud[-1] + 1) * window / WEB_SAMPLE_RATE)


def make_line(text: str) -> Line:
    pcm = synthesize(text)
    return Line(text=text, pcm=pcm, speech_end_s=speech_end(pcm))


class BenchCaller(SimulatedCaller):
    """The simulator's caller, also noting when the end of each line's speech left the microphone."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.line_started: list[float] = []
        self.line_ended: list[float] = []
        self._line_done = asyncio.Event()

    def say_line(self, line: Line) -> None:
        frame_bytes = len(SILENCE)
        pcm = line.pcm
        frames = [pcm[i : i + frame_bytes].ljust(frame_bytes, b"\x00") for i in range(0, len(pcm), frame_bytes)]
        end_frame = min(int(line.speech_end_s * 1000) // FRAME_MS, len(frames) - 1)
        into_frame = line.speech_end_s - end_frame * FRAME_MS / 1000
        self.result.spoke_at.append(time.monotonic() + self._outgoing.qsize() * FRAME_MS / 1000)
        for i, frame in enumerate(frames):
            mark = ("start", 0.0) if i == 0 else ("end", into_frame) if i == end_frame else None
            self._outgoing.put_nowait((frame, mark))

    async def _mic(self) -> None:
        next_at = time.monotonic()
        while True:
            item: Any = self._outgoing.get_nowait() if not self._outgoing.empty() else (SILENCE, None)
            frame, mark = item
            sent = time.monotonic()
            await self._ws.send(frame)
            if mark is not None:
                # A microphone sends a frame once its 20 ms are captured: its audio is the 20 ms before.
                at = sent - FRAME_MS / 1000 + mark[1]
                if mark[0] == "start":
                    self.line_started.append(at)
                else:
                    self.line_ended.append(at)
                    self._line_done.set()
            next_at += FRAME_MS / 1000
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def wait_until_said(self, count: int) -> None:
        while len(self.line_ended) < count:
            self._line_done.clear()
            await self._line_done.wait()


@dataclass
class CallResult:
    variant: str
    call_id: str
    v2v_ms: list[float | None]
    server: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


async def converse(
    caller: BenchCaller, lines: list[Line], before_line: Callable[[Line], None] | None = None
) -> list[float | None]:
    """Greeting, then each line and its answer; the caller-side voice-to-voice latency of each turn."""
    async with caller:
        if not await caller.wait_for_agent(quiet_s=QUIET_S, timeout_s=TURN_TIMEOUT_S):
            raise RuntimeError("the agent never greeted")
        for n, line in enumerate(lines, start=1):
            if before_line is not None:
                before_line(line)
            caller.say_line(line)
            await caller.wait_until_said(n)
            await caller.finished_speaking()
            await caller.wait_for_agent(quiet_s=QUIET_S, timeout_s=TURN_TIMEOUT_S)
    heard = caller.result.heard
    latencies: list[float | None] = []
    for i, ended in enumerate(caller.line_ended):
        until = caller.line_started[i + 1] if i + 1 < len(caller.line_started) else float("inf")
        first = next((h.at for h in heard if ended < h.at < until), None)
        latencies.append(None if first is None else round((first - ended) * 1000, 1))
    return latencies


# --- the fakes, in their own thread (as a remote provider would be) -------------------------------------------------


class Fakes:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fakes", daemon=True)
        self.deepgram: FixedLatencyDeepgram
        self.openai: FixedLatencyOpenAI
        self.elevenlabs: FixedLatencyElevenLabs

    def _run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)  # type: ignore[arg-type]

    async def _start(self) -> None:
        self.deepgram = await FixedLatencyDeepgram(final_delay_s=STT_FINAL_DELAY_S).start()
        self.openai = await FixedLatencyOpenAI(
            first_token_delay_s=LLM_FIRST_TOKEN_S, token_interval_s=LLM_TOKEN_INTERVAL_S, default_reply=_reply
        ).start()
        self.elevenlabs = await FixedLatencyElevenLabs(first_audio_delay_s=TTS_FIRST_AUDIO_S).start()

    async def _stop(self) -> None:
        for fake in (self.deepgram, self.openai, self.elevenlabs):
            await fake.stop()

    def __enter__(self) -> Fakes:
        self.thread.start()
        self._run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self._run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def hear_next(self, line: Line) -> None:
        """What Deepgram will transcribe from the caller's next burst of speech."""

        def script() -> None:
            self.deepgram.utterances.clear()
            self.deepgram.say(line.text)

        self.loop.call_soon_threadsafe(script)


def _reply(body: dict[str, Any]) -> str:
    last = next((m.get("content") for m in reversed(body["messages"]) if m.get("role") == "user"), "")
    return REPLIES.get(str(last).strip(), "Sure, I can help with that.")


# --- measuring the machine -----------------------------------------------------------------------------------------


class CpuMeter:
    """Share of the machine's CPU used, and how much of it was this process's, over a span."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float, float]:
        with open("/proc/stat") as f:
            values = [float(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]
        times = os.times()
        return sum(values), idle, times.user + times.system, time.monotonic()

    def result(self) -> dict[str, Any]:
        total0, idle0, proc0, wall0 = self.start
        total1, idle1, proc1, wall1 = self._sample()
        cpus = os.cpu_count() or 1
        busy = 1 - (idle1 - idle0) / (total1 - total0) if total1 > total0 else 0.0
        ours = (proc1 - proc0) / max(wall1 - wall0, 1e-9) / cpus
        return {
            "seconds": round(wall1 - wall0, 1),
            "machine_busy_pct": round(busy * 100, 1),
            "bench_process_pct": round(ours * 100, 1),
            "others_pct": round(max(busy - ours, 0.0) * 100, 1),
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        }


# --- statistics ----------------------------------------------------------------------------------------------------


def p90(values: list[float]) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p90_ms": round(p90(values), 1),
        "mean_ms": round(statistics.fmean(values), 1),
        "min_ms": round(min(values), 1),
        "max_ms": round(max(values), 1),
    }


def ratio_interval(a: list[float], b: list[float], *, rounds: int = 4000) -> list[float]:
    """A bootstrap 90 % interval of median(a) / median(b), resampling the turns of each variant."""
    rng = random.Random(0)  # noqa: S311 - a statistic, not a secret
    ratios = sorted(
        statistics.median(rng.choices(a, k=len(a))) / statistics.median(rng.choices(b, k=len(b))) for _ in range(rounds)
    )
    return [round(ratios[int(0.05 * rounds)], 3), round(ratios[int(0.95 * rounds) - 1], 3)]


def server_turns(call: dict[str, Any]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = (call.get("latency") or {}).get("turns") or []
    return turns


# --- the run -------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Warnings only, from pipecat (loguru) as from BVRAI (structlog): as a server runs."""
    from loguru import logger

    logger.remove()
    handler = logger.add(sys.stderr, level="WARNING")
    try:
        yield
    finally:
        logger.remove(handler)


async def signup(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/v1/auth/signup",
        json={"email": "bench@example.com", "password": "long password 1", "name": "B", "organization_name": "Bench"},
    )
    r.raise_for_status()
    http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"


async def publish(http: httpx.AsyncClient, spec: dict[str, Any]) -> str:
    r = await http.post("/v1/agents", json=spec)
    r.raise_for_status()
    agent_id = str(r.json()["id"])
    (await http.post(f"/v1/agents/{agent_id}/publish")).raise_for_status()
    return agent_id


async def bvrai_call(
    http: httpx.AsyncClient, agent_id: str, lines: list[Line], variant: str, fakes: Fakes | None
) -> CallResult:
    started = await start_call(http, agent_id=agent_id)
    call_id = started["call"]["id"]
    caller = BenchCaller(websocket_url=started["websocket_url"], token=started["token"], call_id=call_id)
    v2v = await converse(caller, lines, fakes.hear_next if fakes else None)
    call = await wait_until_ended(http, call_id)
    result = CallResult(variant=variant, call_id=call_id, v2v_ms=v2v, server=call.get("latency"))
    transcript = (await http.get(f"/v1/calls/{call_id}/transcript")).json()
    heard = [m["content"] for m in transcript.get("messages", []) if m["role"] == "user"]
    if heard != [line.text for line in lines] and variant == "bvrai":
        result.notes.append(f"transcript differs: {heard}")
    if variant == "local":
        result.notes.extend(
            f"{m['role']}: {m['content']}" for m in transcript.get("messages", []) if m["role"] in ("user", "assistant")
        )
    return result


async def bare_call(ws_url: str, lines: list[Line], fakes: Fakes, n: int) -> CallResult:
    asked = len(fakes.openai.chat_requests)
    # The bare route reads no token; the simulator always appends one.
    caller = BenchCaller(websocket_url=ws_url + BARE_PATH, token="none", call_id=f"bare-{n}")  # noqa: S106
    v2v = await converse(caller, lines, fakes.hear_next)
    result = CallResult(variant="bare", call_id=f"bare-{n}", v2v_ms=v2v)
    asked_for = [r["messages"][-1].get("content") for r in fakes.openai.chat_requests[asked:]]
    if asked_for != [line.text for line in lines]:
        result.notes.append(f"LLM requests differ: {asked_for}")
    return result


def print_table(variants: dict[str, dict[str, Any]], ratio: float | None, interval: list[float] | None) -> None:
    header = f"{'variant':<34} {'turns':>5} {'median ms':>10} {'p90 ms':>8} {'server p50':>11}"
    print()
    print(header)
    print("-" * len(header))
    for data in variants.values():
        s = data["client"]
        server = data.get("server_bot_started", {})
        median = f"{s['median_ms']:.0f}" if s.get("n") else "-"
        p90_ = f"{s['p90_ms']:.0f}" if s.get("n") else "-"
        srv = f"{server['median_ms']:.0f}" if server.get("n") else "-"
        print(f"{data['label']:<34} {s['n']:>5} {median:>10} {p90_:>8} {srv:>11}")
    for data in variants.values():
        turns = [t for call in data.get("server_turns", []) for t in call]
        if turns:
            parts = []
            for key in ("transcript_ms", "llm_first_token_ms", "tts_first_audio_ms", "bot_started_ms"):
                values = [t[key] for t in turns if key in t]
                if values:
                    parts.append(f"{key.removesuffix('_ms')} {statistics.median(values):.0f}")
            print(f"  {data['label']}: server medians from speech end (VAD): {', '.join(parts)} ms")
    if ratio is not None and interval is not None:
        verdict = "met" if ratio <= RATIO_TARGET else "MISSED"
        print(
            f"\nratio a/b (median BVRAI / median bare pipecat): {ratio:.3f} "
            f"(90% bootstrap {interval[0]:.3f}-{interval[1]:.3f}); target <= {RATIO_TARGET}: {verdict}"
        )
    local = variants.get("local", {}).get("client", {})
    if local.get("n"):
        verdict = "met" if local["median_ms"] < LOCAL_TARGET_MS else "MISSED"
        print(f"local stack median: {local['median_ms']:.0f} ms; target < {LOCAL_TARGET_MS:.0f} ms: {verdict}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    load_start = [round(x, 2) for x in os.getloadavg()]
    texts = [LINES_AND_REPLIES[i % len(LINES_AND_REPLIES)][0] for i in range(args.turns)]
    lines = [make_line(t) for t in texts]  # synthesized up front, not during the calls

    results: list[CallResult] = []
    phases: dict[str, Any] = {}
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bvrai-bench-") as tmp, Fakes() as fakes:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await prepare_schema(database_url)
        urls = {
            "deepgram": fakes.deepgram.url,
            "openai": fakes.openai.url + "/v1",
            "elevenlabs": fakes.elevenlabs.url,
        }
        settings = make_settings(database_url, Path(tmp), provider_base_urls=urls)
        bare = BareConfig(
            deepgram_url=fakes.deepgram.url,
            deepgram_key=fakes.deepgram.api_key,
            openai_url=fakes.openai.url + "/v1",
            openai_key=fakes.openai.api_key,
            elevenlabs_ws_url=fakes.elevenlabs.ws_url,
            elevenlabs_key=fakes.elevenlabs.api_key,
            system_prompt=SYSTEM_PROMPT,
            greeting=GREETING,
        )
        app = create_app(settings)
        log_path = args.out.with_suffix(".log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        server_log = stack.enter_context(log_path.open("w"))
        # The server logs as it would in production (structlog INFO), into a file beside the results.
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=server_log))
        with serve(app) as server, serve(bare_app(bare)) as bare_server, quiet_logs():
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
                await signup(http)
                for fake in (fakes.deepgram, fakes.openai, fakes.elevenlabs):
                    body = {"provider": fake.name, "name": fake.name, "secret": fake.api_key}
                    (await http.post("/v1/credentials", json=body)).raise_for_status()
                cloud_agent = await publish(
                    http,
                    {
                        "name": "Bench cloud",
                        "system_prompt": SYSTEM_PROMPT,
                        "first_message": GREETING,
                        "transcriber": {"provider": "deepgram", "model": "nova-3"},
                        "llm": {"provider": "openai", "model": "gpt-4o-mini"},
                        "voice": {"provider": "elevenlabs"},
                    },
                )
                # One call of each, not counted: first connections, imports, the Smart Turn model.
                print("warming up (a) and (b)...", flush=True)
                await bvrai_call(http, cloud_agent, lines[:1], "bvrai", fakes)
                await bare_call(bare_server.ws_url, lines[:1], fakes, 0)

                meter = CpuMeter()
                for n in range(1, args.calls + 1):
                    for variant in ("bvrai", "bare"):
                        print(f"call {n}/{args.calls} ({variant})...", flush=True)
                        if variant == "bvrai":
                            result = await bvrai_call(http, cloud_agent, lines, "bvrai", fakes)
                        else:
                            result = await bare_call(bare_server.ws_url, lines, fakes, n)
                        results.append(result)
                        print(f"  v2v ms: {result.v2v_ms} {' '.join(result.notes)}", flush=True)
                        await asyncio.sleep(0.5)
                if args.calls:
                    phases["a_b"] = meter.result()

                if not args.skip_local:
                    from bvrai.providers.local import warm_up

                    print("warming up the local models...", flush=True)
                    await warm_up(cache_dir=settings.model_cache_path)
                    local_agent = await publish(
                        http,
                        {
                            "name": "Bench local",
                            "system_prompt": SYSTEM_PROMPT,
                            "first_message": GREETING,
                            "llm": {"provider": "local", "max_tokens": 60},
                        },
                    )
                    await bvrai_call(http, local_agent, lines[:1], "local", None)  # a throwaway call
                    meter = CpuMeter()
                    for n in range(1, args.local_calls + 1):
                        print(f"call {n}/{args.local_calls} (local)...", flush=True)
                        result = await bvrai_call(http, local_agent, lines, "local", None)
                        results.append(result)
                        print(f"  v2v ms: {result.v2v_ms}", flush=True)
                    phases["local"] = meter.result()

    labels = {
        "bvrai": "(a) BVRAI session, cloud fakes",
        "bare": "(b) bare pipecat, cloud fakes",
        "local": "(c) BVRAI session, local models",
    }
    variants: dict[str, dict[str, Any]] = {}
    for name, label in labels.items():
        calls = [r for r in results if r.variant == name]
        if not calls:
            continue
        values = [v for r in calls for v in r.v2v_ms if v is not None]
        data: dict[str, Any] = {
            "label": label,
            "client": summary(values),
            "missing_turns": sum(v is None for r in calls for v in r.v2v_ms),
            "calls": [{"id": r.call_id, "v2v_ms": r.v2v_ms, "notes": r.notes} for r in calls],
        }
        if name != "bare":
            turns = [t for r in calls for t in server_turns({"latency": r.server})]
            data["server_bot_started"] = summary([t["bot_started_ms"] for t in turns if "bot_started_ms" in t])
            data["server_turns"] = [server_turns({"latency": r.server}) for r in calls]
        variants[name] = data

    a = [v for r in results if r.variant == "bvrai" for v in r.v2v_ms if v is not None]
    b = [v for r in results if r.variant == "bare" for v in r.v2v_ms if v is not None]
    ratio = round(statistics.median(a) / statistics.median(b), 3) if a and b else None
    interval = ratio_interval(a, b) if a and b else None
    local = variants.get("local", {}).get("client", {})
    report: dict[str, Any] = {
        "benchmark": "voice-to-voice latency",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "pipecat": _version("pipecat-ai"),
            "loadavg_start": load_start,
            "phases": phases,
        },
        "config": {
            "turns_per_call": args.turns,
            "calls_per_variant": args.calls,
            "local_calls": 0 if args.skip_local else args.local_calls,
            "lines": texts,
            "fake_latency_s": {
                "stt_final_after_finalize": STT_FINAL_DELAY_S,
                "llm_first_token": LLM_FIRST_TOKEN_S,
                "llm_token_interval": LLM_TOKEN_INTERVAL_S,
                "tts_first_audio": TTS_FIRST_AUDIO_S,
            },
            "turn": {"vad_start_secs": 0.1, "vad_stop_secs": 0.2, "smart_turn": True},
            "speech_end": "end of the last 10 ms window above -40 dBFS, timed as the mic sent it",
        },
        "variants": variants,
        "ratio_a_b": ratio,
        "ratio_a_b_90ci": interval,
        "targets": {
            "ratio_max": RATIO_TARGET,
            "ratio_met": None if ratio is None else ratio <= RATIO_TARGET,
            "local_median_max_ms": LOCAL_TARGET_MS,
            "local_met": (local["median_ms"] < LOCAL_TARGET_MS) if local.get("n") else None,
        },
        "wall_seconds": round(time.monotonic() - began, 1),
    }
    print_table(variants, ratio, interval)
    return report


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=3, help="caller lines per call (default 3)")
    parser.add_argument("--calls", type=int, default=5, help="calls of (a) and of (b), interleaved (default 5)")
    parser.add_argument("--local-calls", type=int, default=2, help="calls on the local models (default 2)")
    parser.add_argument("--skip-local", action="store_true", help="measure (a) and (b) only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out} ({report['wall_seconds']} s)")


if __name__ == "__main__":
    main()
