"""Concurrent phone calls: N simultaneous simulated Twilio calls against one ``bvrai media`` process,
and the same against a bare pipecat pipeline, in the same run.

    .venv/bin/python bench/concurrency.py [--ns 1,10,25,50,100] [--out bench/results/concurrency.json]

For each N and each variant, N callers connect at once as Twilio Media Streams clients
(``tests/fakes/twilio_media.py``: ``connected``, ``start``, then 20 ms μ-law frames paced in real
time) and listen to the agent's greeting, one long sentence (~7 s) spoken by the fixed-latency
ElevenLabs fake; Deepgram and OpenAI are the fixed-latency fakes of ``bench/latency.py`` too. The
callers send silence, so every call runs its full input path (μ-law decode, Silero VAD, streaming to
Deepgram; BVRAI keeps the line's 8 kHz for Deepgram, the bare pipeline upsamples to 16 kHz) while
its output path paces the greeting back.

- ``bvrai``: each call comes in through the signed Twilio voice webhook of a ``bvrai api`` subprocess,
  whose TwiML points the stream at a ``bvrai media`` subprocess: the platform's
  ``CallSession`` (call record, transcript, recording, marks, latency observer) on pipecat's
  ``TwilioFrameSerializer``.
- ``bare``: a subprocess serving a bare pipecat pipeline with the same serializer, services, VAD and
  turn settings (``bare_twilio_call`` below), and nothing else.

Per N: CPU per call (the server process's CPU time over the calls' wall time, per call, in % of one
core), memory per call (the server's peak RSS during the calls above its RSS before, per call),
the p99 of the gap between consecutive agent audio messages beyond the audio they carried (what the
caller's jitter buffer must absorb: 0 when each chunk arrives as the previous one finished
playing), and lost frames (20 ms frames of the greeting that never arrived). Arrival times are taken
by the callers, which are all this process runs (the fakes and the API server have processes of
their own); both variants share their bias, which the driver lag column measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import uvloop  # noqa: E402
from fastapi import WebSocket  # noqa: E402
from tests.fakes.twilio import parse_stream  # noqa: E402
from tests.fakes.twilio_media import MediaStreamClient, sid  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.latency import Fakes  # noqa: E402

DEFAULT_OUT = ROOT / "bench" / "results" / "concurrency.json"
NS = (1, 10, 25, 50, 100)
VARIANTS = ("bvrai", "bare")
GREETING = (
    "Hello and welcome to Bella Pizza where tonight we have a special on our wood fired margherita "
    "with fresh basil and a four cheese pizza with a free drink for every order before eight"
)
MS_PER_CHAR = 40.0  # the ElevenLabs fake's tone length per character
OUR_NUMBER = "+14155550100"
AUTH_TOKEN = "bench-twilio-auth-token-0123456789"  # noqa: S105 - the fake account's, for this run only
ACCOUNT_SID = "AC" + "0" * 32
SECRET = "bench-secret-key-with-enough-entropy-0123456789"  # noqa: S105 - a throwaway deployment
KEYS = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
CLK_TCK = os.sysconf("SC_CLK_TCK")
OPEN_TIMEOUT_S = 60.0  # a busy server accepts late; a caller that gave up would count as a failed call
LISTEN_TIMEOUT_S = 90.0


# --- the bare pipeline, for the comparison -------------------------------------------------------------------------


async def bare_twilio_call(websocket: Any, config: Any) -> None:
    """bench/bare_pipeline.py's bare pipeline on a Twilio line: 16 kHz in, 8 kHz out."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADParams
    from pipecat.frames.frames import TTSSpeakFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.services.deepgram.stt import DeepgramSTTService
    from pipecat.services.elevenlabs.tts import ElevenLabsTTSService
    from pipecat.services.openai.llm import OpenAILLMService
    from pipecat.transcriptions.language import Language
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
    from pipecat.workers.runner import WorkerRunner

    from bench.bare_pipeline import _turn_strategies

    start: dict[str, Any] = {}
    while start.get("event") != "start":
        start = json.loads(await websocket.receive_text())
    serializer = TwilioFrameSerializer(
        stream_sid=start["streamSid"],
        params=TwilioFrameSerializer.InputParams(auto_hang_up=False, sample_rate=16000),
    )
    stt = DeepgramSTTService(
        api_key=config.deepgram_key,
        base_url=config.deepgram_url,
        encoding="linear16",
        sample_rate=16000,
        settings=DeepgramSTTService.Settings(
            model=config.stt_model, language=Language.EN, interim_results=True, smart_format=True, punctuate=True
        ),
    )
    llm_settings = OpenAILLMService.Settings(model=config.llm_model)
    llm_settings.system_instruction = config.system_prompt
    llm = OpenAILLMService(api_key=config.openai_key, base_url=config.openai_url, settings=llm_settings)
    tts = ElevenLabsTTSService(
        api_key=config.elevenlabs_key,
        url=config.elevenlabs_ws_url,
        sample_rate=8000,
        settings=ElevenLabsTTSService.Settings(voice=config.voice_id, model=config.tts_model, speed=1.0),
    )
    user_agg, assistant_agg = LLMContextAggregatorPair(
        LLMContext(),
        user_params=LLMUserAggregatorParams(
            vad_analyzer=SileroVADAnalyzer(
                params=VADParams(start_secs=config.vad_start_secs, stop_secs=config.vad_stop_secs)
            ),
            user_turn_strategies=_turn_strategies(config),
        ),
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            audio_in_sample_rate=16000,
            audio_out_sample_rate=8000,
            serializer=serializer,
            add_wav_header=False,
        ),
    )
    pipeline = Pipeline([transport.input(), stt, user_agg, llm, tts, transport.output(), assistant_agg])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=8000),
        enable_rtvi=False,
        idle_timeout_secs=None,
    )

    @transport.event_handler("on_client_connected")  # type: ignore[untyped-decorator]
    async def _connected(_transport: Any, _client: Any) -> None:
        await worker.queue_frames([TTSSpeakFrame(config.greeting)])

    @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
    async def _disconnected(_transport: Any, _client: Any) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


def serve_fakes() -> None:
    """The provider fakes in a process of their own (as remote providers are), their URLs on stdout."""
    from loguru import logger

    logger.remove()
    with Fakes() as fakes:
        described = {
            name: {"url": fake.url, "ws_url": fake.ws_url, "api_key": fake.api_key, "name": fake.name}
            for name, fake in (("deepgram", fakes.deepgram), ("openai", fakes.openai), ("elevenlabs", fakes.elevenlabs))
        }
        print(json.dumps(described), flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin


@dataclass(frozen=True)
class Fake:
    name: str
    url: str
    ws_url: str
    api_key: str


class RemoteFakes:
    def __init__(self, log: Any) -> None:
        cmd = [sys.executable, str(Path(__file__)), "--serve-fakes"]
        self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)  # noqa: S603
        assert self.process.stdout is not None
        described = json.loads(self.process.stdout.readline())
        self.deepgram, self.openai, self.elevenlabs = (
            Fake(**described[n]) for n in ("deepgram", "openai", "elevenlabs")
        )

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()


def serve_bare(port: int, config_json: str) -> None:
    import uvicorn
    from fastapi import FastAPI
    from loguru import logger

    from bench.bare_pipeline import BareConfig

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    config = BareConfig(**json.loads(config_json))
    app = FastAPI()

    @app.websocket("/bare/twilio")
    async def media(websocket: WebSocket) -> None:
        await websocket.accept()
        await bare_twilio_call(websocket, config)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")


# --- the servers under test ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """CPU seconds a process has used so far (utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def cpu_s(self) -> float:
        return cpu_s(self.process.pid)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        if self.process.poll() is None:
            self.process.kill()


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise RuntimeError("the server did not start listening")


def start_platform(role: str, env: dict[str, str], port: int, log: Any) -> Server:
    """``bvrai api`` or ``bvrai media`` in a process of its own."""
    cmd = [sys.executable, "-m", "bvrai.cli", role, "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)  # noqa: S603 - our own CLI
    wait_listening(port, process)
    return Server(process, f"http://127.0.0.1:{port}")


def start_bare(config: dict[str, Any], port: int, log: Any) -> Server:
    cmd = [sys.executable, str(Path(__file__)), "--serve-bare", str(port), "--bare-config", json.dumps(config)]
    process = subprocess.Popen(cmd, stdout=log, stderr=log)  # noqa: S603 - this very script
    wait_listening(port, process)
    return Server(process, f"http://127.0.0.1:{port}")


# --- the callers ---------------------------------------------------------------------------------------------------


@dataclass
class CallStats:
    gaps_ms: list[float]
    received_ms: float
    lost_frames: int
    connected: bool
    first_audio_s: float | None  # from dialing (the webhook, or the socket's opening) to the first agent audio


async def listen_to_greeting(
    stream: MediaStreamClient, dialed_at: float, timeout_s: float = LISTEN_TIMEOUT_S
) -> CallStats:
    expected_ms = len(GREETING) * MS_PER_CHAR
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stream.closed.is_set():
        heard = stream.result.heard
        received = sum(len(h.audio) for h in heard) / 8
        if heard and (received >= expected_ms or time.monotonic() - heard[-1].at > 2.0):
            break
        await asyncio.sleep(0.1)
    heard = list(stream.result.heard)
    await stream.stop()
    gaps = [
        max(0.0, (b.at - a.at) * 1000 - len(a.audio) / 8)
        for a, b in itertools.pairwise(heard)
        if (b.at - a.at) < 1.0  # within the utterance
    ]
    received_ms = sum(len(h.audio) for h in heard) / 8
    lost = max(0, int((expected_ms - received_ms) // 20))
    return CallStats(gaps, received_ms, lost, bool(heard), heard[0].at - dialed_at if heard else None)


async def bvrai_call(http: httpx.AsyncClient, api_url: str, public_url: str) -> CallStats:
    dialed_at = time.monotonic()
    call_sid = sid("CA")
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": "+14155550123",
        "To": OUR_NUMBER,
    }
    signed_url = public_url + "/telephony/twilio/voice"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(signed_url, params)
    r = await http.post(api_url + "/telephony/twilio/voice", data=params, headers={"X-Twilio-Signature": signature})
    r.raise_for_status()
    url, parameters = parse_stream(r.text)
    stream = MediaStreamClient(
        url, account_sid=ACCOUNT_SID, call_sid=call_sid, custom_parameters=parameters, open_timeout_s=OPEN_TIMEOUT_S
    )
    await stream.connect()
    return await listen_to_greeting(stream, dialed_at)


async def bare_call(_http: httpx.AsyncClient, url: str) -> CallStats:
    dialed_at = time.monotonic()
    stream = MediaStreamClient(
        url, account_sid=ACCOUNT_SID, call_sid=sid("CA"), custom_parameters={}, open_timeout_s=OPEN_TIMEOUT_S
    )
    await stream.connect()
    return await listen_to_greeting(stream, dialed_at)


IDLE_CPU_SHARE = 0.05  # of a core: a server winding down its last calls uses more
IDLE_TIMEOUT_S = 60.0


async def wait_idle(pids: list[int]) -> None:
    """Until the previous step's calls have wound down on every server (the other variant's too)."""
    deadline = time.monotonic() + IDLE_TIMEOUT_S
    while time.monotonic() < deadline:
        before = {pid: cpu_s(pid) for pid in pids}
        await asyncio.sleep(0.5)
        if all(cpu_s(pid) - used < IDLE_CPU_SHARE * 0.5 for pid, used in before.items()):
            return


async def measure(
    server: Server,
    n: int,
    place: Any,
    arrival_s: float = 0.0,
    helpers: dict[str, int] | None = None,
    quiet: list[int] | None = None,
) -> dict[str, Any]:
    """``helpers``: the other processes on the machine during the calls (name → pid), whose CPU is
    reported beside the server's, with this process's (the callers'). ``quiet``: processes that must
    be idle before the calls start."""
    await asyncio.sleep(1.0)
    await wait_idle([server.process.pid, *(quiet or [])])
    helpers = {"callers": os.getpid(), **(helpers or {})}
    helpers_before = {name: cpu_s(pid) for name, pid in helpers.items()}
    rss_before, cpu_before, started = server.rss_mb(), server.cpu_s(), time.monotonic()
    peak = rss_before

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, server.rss_mb())
            await asyncio.sleep(0.2)

    lags: list[float] = []

    async def loop_lag() -> None:
        """How late this process's own event loop wakes up: the callers' timestamps are this late too."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append((time.monotonic() - before - 0.01) * 1000)

    sampler, lagger = asyncio.create_task(sample()), asyncio.create_task(loop_lag())

    # One HTTP client for all the webhooks: a client built per call loads a TLS context (~20 ms of
    # CPU), which would make the callers already on the line late.
    http = httpx.AsyncClient(timeout=60)

    async def arrive(i: int) -> CallStats:
        await asyncio.sleep(i * arrival_s / n)
        result: CallStats = await place(http)
        return result

    # The callers' own garbage collections would pause every caller at once and show up as jitter:
    # none while they measure (what they allocate until then stays in memory: bounded, a call's messages).
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        results = await asyncio.gather(*(arrive(i) for i in range(n)), return_exceptions=True)
    finally:
        gc.enable()
        gc.unfreeze()
        await http.aclose()
    wall, cpu = time.monotonic() - started, server.cpu_s() - cpu_before
    helpers_cpu = {name: round(100 * (cpu_s(pid) - helpers_before[name]) / wall, 1) for name, pid in helpers.items()}
    sampler.cancel()
    lagger.cancel()
    stats = [r for r in results if isinstance(r, CallStats)]
    errors = sorted({f"{type(r).__name__}: {r}"[:200] for r in results if isinstance(r, BaseException)})
    failed = len(results) - len([s for s in stats if s.connected])
    gaps = [g for s in stats for g in s.gaps_ms]
    answers = [s.first_audio_s for s in stats if s.first_audio_s is not None]
    return {
        "n": n,
        "arrival_s": arrival_s,
        "calls_failed": failed,
        "wall_s": round(wall, 2),
        "cpu_per_call_pct": round(100 * cpu / wall / n, 2),
        "cpu_total_pct": round(100 * cpu / wall, 1),
        # CPU seconds each call cost: unlike a share of wall time, this does not shrink when the
        # process is starved by other work on the machine and the calls stretch out.
        "cpu_s_per_call": round(cpu / n, 2),
        "mem_per_call_mb": round(max(0.0, peak - rss_before) / n, 2),
        "rss_before_mb": round(rss_before, 1),
        "rss_peak_mb": round(peak, 1),
        "gap_p50_ms": round(float(np.percentile(gaps, 50)), 1) if gaps else None,
        "gap_p99_ms": round(float(np.percentile(gaps, 99)), 1) if gaps else None,
        "gap_max_ms": round(max(gaps), 1) if gaps else None,
        "first_audio_p50_s": round(float(np.percentile(answers, 50)), 2) if answers else None,
        "first_audio_max_s": round(max(answers), 2) if answers else None,
        "lost_frames": sum(s.lost_frames for s in stats) + failed * int(len(GREETING) * MS_PER_CHAR // 20),
        "audio_received_s": round(sum(s.received_ms for s in stats) / 1000, 1),
        "driver_lag_p99_ms": round(float(np.percentile(lags, 99)), 1) if lags else None,
        "load_avg_1m": round(os.getloadavg()[0], 2),  # the whole machine's, others' work included
        "helpers_cpu_pct": helpers_cpu,  # % of one core over the calls' wall time
        "errors": errors,
    }


# --- setup of the platform side ------------------------------------------------------------------------------------


async def setup_org(api_url: str, fakes: RemoteFakes) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        r = await http.post(
            "/v1/auth/signup",
            json={
                "email": "bench@example.com",
                "password": "long password 1",
                "name": "B",
                "organization_name": "Bench",
            },
        )
        r.raise_for_status()
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        for fake in (fakes.deepgram, fakes.openai, fakes.elevenlabs):
            body = {"provider": fake.name, "name": fake.name, "secret": fake.api_key}
            (await http.post("/v1/credentials", json=body)).raise_for_status()
        twilio = {"provider": "twilio", "name": "t", "secret": AUTH_TOKEN, "extra": {"account_sid": ACCOUNT_SID}}
        cred = (await http.post("/v1/credentials", json=twilio)).json()["id"]
        spec = {
            "name": "Bench",
            "system_prompt": "You are the receptionist of Bella Pizza.",
            "first_message": GREETING,
            "transcriber": {"provider": "deepgram", "model": "nova-3"},
            "llm": {"provider": "openai", "model": "gpt-4o-mini"},
            "voice": {"provider": "elevenlabs"},
        }
        agent = (await http.post("/v1/agents", json=spec)).json()["id"]
        (await http.post(f"/v1/agents/{agent}/publish")).raise_for_status()
        number = {"number": OUR_NUMBER, "carrier": "twilio", "credential_id": cred, "inbound_agent_id": agent}
        (await http.post("/v1/phone-numbers", json=number)).raise_for_status()


def run(ns: tuple[int, ...], out: Path, variants: tuple[str, ...] = VARIANTS, arrival_s: float = 0.0) -> dict[str, Any]:
    from tests.pg import scratch_database

    from bvrai.setup import migrate

    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
        log = stack.enter_context((out.with_suffix(".log")).open("w"))
        fakes = RemoteFakes(log)
        stack.callback(fakes.stop)
        # PostgreSQL, the scale-out shape (api and media processes sharing it); a scratch database.
        db_url = stack.enter_context(scratch_database("bvrai_bench"))
        migrate.upgrade(db_url)
        providers = {
            "deepgram": fakes.deepgram.url,
            "openai": fakes.openai.url + "/v1",
            "elevenlabs": fakes.elevenlabs.url,
        }
        media_port = free_port()
        public_url = f"http://127.0.0.1:{media_port}"
        env = {
            **os.environ,
            "BVRAI_ENV": "test",
            "BVRAI_DATA_DIR": str(tmp / "data"),
            "BVRAI_DATABASE_URL": db_url,
            "BVRAI_SECRET_KEY": SECRET,
            "BVRAI_ENCRYPTION_KEYS": KEYS,
            "BVRAI_PROVIDER_BASE_URLS": json.dumps(providers),
            "BVRAI_PUBLIC_BASE_URL": public_url,
            "BVRAI_MAX_CONCURRENT_CALLS": "1000",
            "BVRAI_SEED_DEMO": "false",
        }
        # The API server answers the carrier's voice webhooks, with streams to the media process. It
        # runs in a process of its own: in this one, its work would hold the callers' GIL and make
        # them late.
        api_env = {**env, "BVRAI_RATE_LIMIT_API": "100000/minute", "BVRAI_RATE_LIMIT_ORG": "100000/minute"}
        api = start_platform("api", api_env, free_port(), log)
        stack.callback(api.stop)
        asyncio.run(setup_org(api.url, fakes))
        media = start_platform("media", env, media_port, log)
        stack.callback(media.stop)
        bare_config = {
            "deepgram_url": fakes.deepgram.url,
            "deepgram_key": fakes.deepgram.api_key,
            "openai_url": fakes.openai.url + "/v1",
            "openai_key": fakes.openai.api_key,
            "elevenlabs_ws_url": fakes.elevenlabs.ws_url,
            "elevenlabs_key": fakes.elevenlabs.api_key,
            "system_prompt": "You are the receptionist of Bella Pizza.",
            "greeting": GREETING,
        }
        bare_port = free_port()
        bare = start_bare(bare_config, bare_port, log)
        stack.callback(bare.stop)
        bare_url = f"ws://127.0.0.1:{bare_port}/bare/twilio"
        # Warm both (model loads, first connections) before measuring.
        # The callers run on uvloop, so that their own lateness is a smaller part of what they measure.
        uvloop.run(measure(media, 1, lambda http: bvrai_call(http, api.url, public_url)))
        uvloop.run(measure(bare, 1, lambda http: bare_call(http, bare_url)))
        for n in ns:
            for variant, server, place in (
                ("bvrai", media, lambda http: bvrai_call(http, api.url, public_url)),
                ("bare", bare, lambda http: bare_call(http, bare_url)),
            ):
                if variant not in variants:
                    continue
                helpers = {"fakes": fakes.process.pid, "api": api.process.pid}
                quiet = [media.process.pid, bare.process.pid, *helpers.values()]
                row = {"variant": variant, **uvloop.run(measure(server, n, place, arrival_s, helpers, quiet))}
                rows.append(row)
                print(json.dumps(row), flush=True)
    return {
        "benchmark": "concurrency",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "greeting_s": len(GREETING) * MS_PER_CHAR / 1000,
        "arrival_s": arrival_s,
        "rows": rows,
    }


def table(result: dict[str, Any]) -> str:
    head = (
        "| N | variant | CPU/call (% core) | CPU s/call | CPU total | mem/call (MB) | gap p50 | gap p99 | gap max "
        "| lost frames | failed | first audio p50 / max | driver lag p99 | load |"
    )
    lines = [head, "|" + "---|" * 14]
    for r in result["rows"]:
        lines.append(
            f"| {r['n']} | {r['variant']} | {r['cpu_per_call_pct']} | {r['cpu_s_per_call']} | {r['cpu_total_pct']} % "
            f"| {r['mem_per_call_mb']} "
            f"| {r['gap_p50_ms']} ms | {r['gap_p99_ms']} ms | {r['gap_max_ms']} ms | {r['lost_frames']} "
            f"| {r['calls_failed']} | {r.get('first_audio_p50_s')} / {r.get('first_audio_max_s')} s "
            f"| {r['driver_lag_p99_ms']} ms | {r['load_avg_1m']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ns", default=",".join(map(str, NS)))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--arrival-s",
        type=float,
        default=0.0,
        help="spread the N calls' arrivals evenly over this many seconds (default 0: all at once)",
    )
    parser.add_argument(
        "--greeting-repeats",
        type=int,
        default=1,
        help="the greeting said this many times over (a longer call, so staggered arrivals still overlap)",
    )
    parser.add_argument("--variants", default=",".join(VARIANTS), help="which servers to measure (default: both)")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-fakes", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare-config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fakes:
        serve_fakes()
        return
    if args.serve_bare:
        serve_bare(args.serve_bare, args.bare_config)
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    global GREETING
    GREETING = " ".join([GREETING] * args.greeting_repeats)
    ns = tuple(int(n) for n in args.ns.split(","))
    result = run(ns, args.out, tuple(args.variants.split(",")), args.arrival_s)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
