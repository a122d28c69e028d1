"""Attaching a carrier's media stream to its call, then running the call's session on it.

Each carrier module reads its own opening messages (they carry the stream's ids and the token we
put in the answer instruction), then hands over here: the token must be valid, unspent and for a
call of that carrier (and, when the carrier names its call, that call), or the stream is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from fastapi import WebSocket
from pipecat.serializers.base_serializer import FrameSerializer
from starlette.websockets import WebSocketDisconnect

from bvrai.agents import service as agents
from bvrai.agents.spec import AgentSpec
from bvrai.calls import service as calls
from bvrai.calls.models import Call
from bvrai.kit.context import AppContext
from bvrai.kit.errors import Problem, Unauthorized
from bvrai.providers import registry
from bvrai.telephony.control import CarrierCallControl
from bvrai.telephony.service import system
from bvrai.voice.playback import PlaybackTracker
from bvrai.voice.session import CallSession, LineFormat

log = structlog.get_logger(__name__)

CLOSE_BAD_STREAM = 4400
CLOSE_UNAUTHORIZED = 4401
OPENING_TIMEOUT_S = 10.0
LINE_RATE = 8000  # what a phone line carries (μ-law or A-law at 8 kHz)
WIDEBAND_RATE = 16000  # what Whisper-style transcribers need
# The agent's audio goes to a carrier in 100 ms pieces, not pipecat's 40 ms: the carrier buffers and
# plays it either way (a barge-in flushes that buffer with the carrier's clear), and each piece costs
# the same CPU on its way out whatever it carries (2.5 times fewer: ~15 % less CPU per call measured
# at 50 calls, bench/concurrency.py).
PHONE_OUT_CHUNK_MS = 100


def pipeline_in_rate(spec: AgentSpec) -> int:
    """The caller's audio rate inside the pipeline: the line's 8 kHz when the transcriber takes it as
    it is (Deepgram), else 16 kHz. Upsampling adds nothing a transcriber could use and doubles the work
    of everything on the input path (resampling, VAD, the STT socket, the recording); Silero VAD and
    Smart Turn both work on 8 kHz (Smart Turn resamples the utterance it scores)."""
    accepted = registry.get("stt", spec.transcriber.provider).capabilities.sample_rates
    return LINE_RATE if LINE_RATE in accepted else WIDEBAND_RATE


def phone_line(
    serializer: FrameSerializer,
    *,
    in_rate: int,
    out_rate: int = LINE_RATE,
    playback: PlaybackTracker | None = None,
    fixed_audio_packet_size: int | None = None,
) -> LineFormat:
    """A carrier's line: no browser notifications on it, key presses reach the LLM, and the agent's
    audio leaves in ``PHONE_OUT_CHUNK_MS`` pieces."""
    return LineFormat(
        serializer=serializer,
        in_rate=in_rate,
        out_rate=out_rate,
        notifications=False,
        playback=playback,
        dtmf=True,
        fixed_audio_packet_size=fixed_audio_packet_size,
        out_chunk_ms=PHONE_OUT_CHUNK_MS,
    )


class StreamRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


async def read_until(websocket: WebSocket, event: str, *, key: str = "event") -> dict[str, Any]:
    """The first JSON text message whose ``key`` is ``event`` (earlier ones, e.g. ``connected``, skipped)."""

    async def _read() -> dict[str, Any]:
        while True:
            raw = await websocket.receive_text()
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get(key) == event:
                return message

    try:
        return await asyncio.wait_for(_read(), OPENING_TIMEOUT_S)
    except (TimeoutError, WebSocketDisconnect, KeyError, RuntimeError) as exc:
        raise StreamRefused(CLOSE_BAD_STREAM, f"no {event} message") from exc


async def attach(ctx: AppContext, *, token: str, carrier: str, carrier_call_id: str | None) -> tuple[Call, AgentSpec]:
    async with ctx.sessions() as db:
        try:
            call = await calls.attach_media(db, ctx=ctx, token=token)
            if call.carrier != carrier or (carrier_call_id and call.carrier_call_id != carrier_call_id):
                raise Unauthorized("the media token is for another call")
            version = await agents.get_version(
                db, principal=system(call.org_id), agent_id=call.agent_id, version=call.agent_version
            )
        except Problem as exc:
            await db.commit()  # a spent token stays spent
            raise StreamRefused(CLOSE_UNAUTHORIZED, exc.detail) from exc
        await db.commit()
    return call, AgentSpec.model_validate(version.spec)


async def refuse(websocket: WebSocket, refused: StreamRefused) -> None:
    log.info("carrier_stream_refused", reason=refused.reason)
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):  # the carrier may be gone already
        await websocket.close(code=refused.code, reason=refused.reason)


async def run_call(ctx: AppContext, websocket: WebSocket, *, call: Call, spec: AgentSpec, line: LineFormat) -> None:
    control = CarrierCallControl(ctx, call)
    session = CallSession(ctx=ctx, call=call, spec=spec, websocket=websocket, line=line, control=control)
    control.session = session
    await session.run()
