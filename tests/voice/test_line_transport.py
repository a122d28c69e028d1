"""The call's line sends the agent's speech start and stop through the pipeline, not the 200 ms tick."""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import BotSpeakingFrame, BotStartedSpeakingFrame, BotStoppedSpeakingFrame, Frame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams

from bvrai.voice.line_transport import LineTransport


class Socket:
    headers: dict[str, str] = {}


async def test_only_the_speaking_tick_stays_in_the_output_transport(monkeypatch):
    output = LineTransport(websocket=Socket(), params=FastAPIWebsocketParams()).output()  # type: ignore[arg-type]
    pushed: list[tuple[type[Frame], FrameDirection]] = []

    async def record(frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM, *_: Any) -> None:
        pushed.append((type(frame), direction))

    monkeypatch.setattr(output, "push_frame", record)
    for frame_cls in (BotStartedSpeakingFrame, BotSpeakingFrame, BotSpeakingFrame, BotStoppedSpeakingFrame):
        await output.broadcast_frame(frame_cls)
    down, up = FrameDirection.DOWNSTREAM, FrameDirection.UPSTREAM
    started, stopped = BotStartedSpeakingFrame, BotStoppedSpeakingFrame
    assert pushed == [(started, down), (started, up), (stopped, down), (stopped, up)]
