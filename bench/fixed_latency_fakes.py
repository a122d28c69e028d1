"""The cloud fakes of ``tests/fakes`` with fixed, known latencies, for the latency benchmark.

The fakes answer as fast as they can by default (a few ms of pacing). A benchmark needs the provider
side of a turn to cost the same every time, and something like what the real services cost, so that
what varies between the variants is the code around them. Each subclass adds one knob and changes
nothing else about the wire protocol:

- ``FixedLatencyDeepgram``: a final transcript (``is_final``, including the answer to pipecat's
  ``Finalize``) is sent ``final_delay_s`` after the fake decided it, without holding up the audio it
  is reading (messages leave in order through a per-connection outbox). The fake's own energy
  endpointing is set far above the caller's pauses so that pipecat's ``Finalize`` at VAD stop is what
  ends each utterance, as it is with the real service.
- ``FixedLatencyOpenAI``: the first content token of a streamed chat completion arrives
  ``first_token_delay_s`` after the request, then one token every ``token_interval_s``.
- ``FixedLatencyElevenLabs``: a context's first audio leaves ``first_audio_delay_s`` after the text
  that triggers it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web
from tests.fakes.deepgram import DeepgramFake, ListenSession
from tests.fakes.elevenlabs import ElevenLabsFake, StreamSession
from tests.fakes.openai import OpenAIFake


class FixedLatencyDeepgram(DeepgramFake):
    def __init__(self, *, final_delay_s: float, **kwargs: Any) -> None:
        # Caller lines have pauses of up to ~0.2 s between words; only a Finalize ends an utterance.
        kwargs.setdefault("endpointing_floor_ms", 1000)
        super().__init__(**kwargs)
        self.final_delay_s = final_delay_s
        self._outboxes: dict[int, asyncio.Queue[tuple[float, dict[str, Any]]]] = {}

    async def _serve(self, request: web.Request, ws: web.WebSocketResponse, session: ListenSession) -> None:
        outbox: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self._outboxes[id(session)] = outbox
        sender = asyncio.create_task(self._drain(ws, session, outbox))
        try:
            await super()._serve(request, ws, session)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            self._outboxes.pop(id(session), None)

    async def _send(self, ws: web.WebSocketResponse, session: ListenSession, message: dict[str, Any]) -> None:
        outbox = self._outboxes.get(id(session))
        if outbox is None:
            await super()._send(ws, session, message)
            return
        final = message.get("type") == "Results" and bool(message.get("is_final"))
        due = asyncio.get_running_loop().time() + (self.final_delay_s if final else 0.0)
        outbox.put_nowait((due, message))

    async def _drain(
        self, ws: web.WebSocketResponse, session: ListenSession, outbox: asyncio.Queue[tuple[float, dict[str, Any]]]
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, message = await outbox.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            with contextlib.suppress(ConnectionError, RuntimeError):
                await DeepgramFake._send(self, ws, session, message)


class FixedLatencyOpenAI(OpenAIFake):
    def __init__(self, *, first_token_delay_s: float, token_interval_s: float, **kwargs: Any) -> None:
        super().__init__(chunk_delay=token_interval_s, **kwargs)
        self.first_token_delay_s = first_token_delay_s

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        # The fake sleeps ``chunk_delay`` before every token, the first one included.
        await asyncio.sleep(max(0.0, self.first_token_delay_s - self.chunk_delay))
        return await super().chat_completions(request)


class FixedLatencyElevenLabs(ElevenLabsFake):
    def __init__(self, *, first_audio_delay_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_audio_delay_s = first_audio_delay_s

    async def _generate(
        self,
        ws: web.WebSocketResponse,
        session: StreamSession,
        context_id: str,
        output_format: str,
        *,
        everything: bool,
    ) -> None:
        context = session.contexts[context_id]
        if context.audio_bytes == 0 and context.buffer.strip():
            # The fake sleeps ``chunk_delay`` before each audio message, the first one included.
            await asyncio.sleep(max(0.0, self.first_audio_delay_s - self.chunk_delay))
        await super()._generate(ws, session, context_id, output_format, everything=everything)
