"""pipecat's FastAPI WebSocket transport, without the "bot is speaking" tick nobody in a call listens to.

While the agent speaks, pipecat's output transport broadcasts a ``BotSpeakingFrame`` every 200 ms,
one copy upstream through every processor back to the pipeline's source and one downstream to its
sink: some 17 queue hops, five times a second, for each call. In pipecat it feeds the worker's idle
timeout and the wake-phrase turn strategy; a call uses neither (the session turns the idle timeout
off and ends silent calls itself), and what does track the agent's speech (turn strategies, the
idle controller, the latency taps, the transcript) follows ``BotStartedSpeakingFrame`` and
``BotStoppedSpeakingFrame``, which still go out.
"""

from __future__ import annotations

from typing import Any

from fastapi import WebSocket
from pipecat.frames.frames import BotSpeakingFrame, Frame
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)


class _OutputWithoutSpeakingTicks(FastAPIWebsocketOutputTransport):
    async def broadcast_frame(self, frame_cls: type[Frame], **kwargs: Any) -> None:
        if frame_cls is BotSpeakingFrame:
            return
        await super().broadcast_frame(frame_cls, **kwargs)


class LineTransport(FastAPIWebsocketTransport):
    def __init__(self, *, websocket: WebSocket, params: FastAPIWebsocketParams) -> None:
        super().__init__(websocket=websocket, params=params)
        self._output = _OutputWithoutSpeakingTicks(self, self._client, self._params, name=self._output_name)
