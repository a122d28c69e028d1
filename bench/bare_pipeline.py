"""Variant (b) of the latency benchmark: the same conversation on a bare pipecat pipeline.

Everything a caller's audio meets is what BVRAI's ``CallSession`` builds (``src/bvrai/voice/session.py``),
taken from pipecat directly: the FastAPI WebSocket transport with BVRAI's ``WebPCMSerializer`` (the web
line's wire format, 16 kHz PCM16 both ways), pipecat's stock Deepgram, OpenAI and ElevenLabs services
configured as BVRAI's cloud adapters configure them and pointed at the same fakes, Silero VAD with
the same start/stop times and the same Smart Turn v3 stop strategy. What is left out is the platform:
no database, no call record or transcript writes, no recording, no latency observer, no metrics, no
tools, no call-control behaviours (silence reprompt, maximum duration, end-call phrases).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, WebSocket
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.elevenlabs.tts import ElevenLabsTTSService
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.transcriptions.language import Language
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_start import TranscriptionUserTurnStartStrategy, VADUserTurnStartStrategy
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy, TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

from bvrai.voice.web_serializer import WEB_SAMPLE_RATE, WebPCMSerializer

PATH = "/media/bare"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class BareConfig:
    """What the agent spec gives BVRAI, given to the bare pipeline directly."""

    deepgram_url: str
    deepgram_key: str
    openai_url: str  # with /v1, as the openai SDK takes it
    openai_key: str
    elevenlabs_ws_url: str
    elevenlabs_key: str
    system_prompt: str
    greeting: str
    # The spec's defaults (docs/agent-spec.md); BVRAI's adapters' defaults for the rest.
    stt_model: str = "nova-3"
    llm_model: str = "gpt-4o-mini"
    temperature: float = 0.7
    max_tokens: int = 300
    voice_id: str = "21m00Tcm4TlvDq8ikWAM"
    tts_model: str = "eleven_flash_v2_5"
    vad_start_secs: float = 0.1
    vad_stop_secs: float = 0.2
    smart_turn: bool = True


def _turn_strategies(config: BareConfig) -> UserTurnStrategies:
    start = [
        VADUserTurnStartStrategy(enable_interruptions=True),
        TranscriptionUserTurnStartStrategy(enable_interruptions=True),
    ]
    stop: list[Any]
    if config.smart_turn:
        stop = [TurnAnalyzerUserTurnStopStrategy(turn_analyzer=LocalSmartTurnAnalyzerV3())]
    else:
        stop = [SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=config.vad_stop_secs)]
    return UserTurnStrategies(start=start, stop=stop)


async def run_bare_call(websocket: WebSocket, config: BareConfig) -> None:
    rate = WEB_SAMPLE_RATE
    stt = DeepgramSTTService(
        api_key=config.deepgram_key,
        base_url=config.deepgram_url,
        encoding="linear16",
        sample_rate=rate,
        settings=DeepgramSTTService.Settings(
            model=config.stt_model, language=Language.EN, interim_results=True, smart_format=True, punctuate=True
        ),
    )
    llm_settings = OpenAILLMService.Settings(model=config.llm_model)
    llm_settings.temperature = config.temperature
    llm_settings.max_tokens = config.max_tokens
    llm_settings.system_instruction = config.system_prompt
    llm = OpenAILLMService(api_key=config.openai_key, base_url=config.openai_url, settings=llm_settings)
    tts = ElevenLabsTTSService(
        api_key=config.elevenlabs_key,
        url=config.elevenlabs_ws_url,
        sample_rate=rate,
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
            audio_in_sample_rate=rate,
            audio_out_sample_rate=rate,
            serializer=WebPCMSerializer(),
            add_wav_header=False,
        ),
    )
    pipeline = Pipeline([transport.input(), stt, user_agg, llm, tts, transport.output(), assistant_agg])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=rate, audio_out_sample_rate=rate),
        enable_rtvi=False,
        idle_timeout_secs=None,
    )

    @transport.event_handler("on_client_connected")  # type: ignore[untyped-decorator]
    async def _connected(_transport: Any, _client: Any) -> None:
        await worker.queue_frames([TTSSpeakFrame(s) for s in _SENTENCE_END.split(config.greeting.strip()) if s])

    @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
    async def _disconnected(_transport: Any, _client: Any) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


def bare_app(config: BareConfig) -> FastAPI:
    """An app with one WebSocket route: each connection is one call on the bare pipeline."""
    app = FastAPI()

    @app.websocket(PATH)
    async def media(websocket: WebSocket) -> None:
        await websocket.accept()
        await run_bare_call(websocket, config)

    return app
