"""The browser and simulated-caller wire format: raw PCM16 audio in binary frames, JSON in text.

Binary frames carry 16-bit little-endian mono PCM at 16 kHz both ways. Text frames carry JSON: the
client may send ``{"type": "hangup"}``; the server sends ``{"type": "clear"}`` when the caller
barged in (drop any agent audio still buffered for playback) and event messages (transcript lines,
turn latency) as the call goes.
"""

from __future__ import annotations

import json

from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.serializers.base_serializer import FrameSerializer

WEB_SAMPLE_RATE = 16000


class WebPCMSerializer(FrameSerializer):
    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, OutputAudioRawFrame):
            return frame.audio
        if isinstance(frame, InterruptionFrame):
            return json.dumps({"type": "clear"})
        if isinstance(frame, OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
            if self.should_ignore_frame(frame):
                return None
            return json.dumps(frame.message)
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            if len(data) % 2:
                data = data[:-1]
            return InputAudioRawFrame(audio=data, sample_rate=WEB_SAMPLE_RATE, num_channels=1) if data else None
        try:
            message = json.loads(data)
        except ValueError:
            return None
        return InputTransportMessageFrame(message=message) if isinstance(message, dict) else None
