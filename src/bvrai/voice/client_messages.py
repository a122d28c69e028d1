"""Control messages a web client sends on the media line (text frames), handled in the pipeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pipecat.frames.frames import Frame, InputTransportMessageFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


class ClientMessages(FrameProcessor):
    """``{"type": "hangup"}`` ends the call as the caller's hang-up; other messages are ignored."""

    def __init__(self, on_hangup: Callable[[], Awaitable[None]]) -> None:
        # Direct mode: every input audio frame passes here on its way to the transcriber.
        super().__init__(enable_direct_mode=True)
        self._on_hangup = on_hangup

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputTransportMessageFrame):
            if isinstance(frame.message, dict) and frame.message.get("type") == "hangup":
                await self._on_hangup()
            return
        await self.push_frame(frame, direction)
