"""Audio the fakes produce and inspect: tones as PCM 16-bit / G.711, and a loudness measure.

Adapter tests need audio of the right format and length, not speech: a TTS fake answers with a tone
whose duration follows the text, and the Deepgram fake finds "speech" as bursts of energy.
"""

from __future__ import annotations

import numpy as np

# G.711 μ-law and A-law as in the ITU-T reference code (the same tables CPython's audioop used);
# numpy keeps them quick enough for a few seconds of test audio.
_MULAW_BIAS = 0x84
_MULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def tone(seconds: float, sample_rate: int, *, frequency: float = 220.0, amplitude: int = 8000) -> bytes:
    """A sine tone as PCM signed 16-bit little-endian mono."""
    n = max(0, round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    samples = (amplitude * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    return samples.tobytes()


def silence(seconds: float, sample_rate: int) -> bytes:
    return b"\x00\x00" * max(0, round(seconds * sample_rate))


def pcm16_to_mulaw(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    x = np.minimum(np.abs(x), 8159) + (_MULAW_BIAS >> 2)
    segment = np.searchsorted(_MULAW_SEGMENT_ENDS, x)
    value = np.where(segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | ((x >> (segment + 1)) & 0x0F))
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def mulaw_to_pcm16(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype("<i2").tobytes()


def pcm16_to_alaw(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, x)
    mantissa = np.where(segment < 2, x >> 1, x >> np.maximum(segment, 1)) & 0x0F
    value = np.where(segment >= 8, 0x7F, (np.minimum(segment, 7) << 4) | mantissa)
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def alaw_to_pcm16(data: bytes) -> bytes:
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    return np.where(sign != 0, magnitude, -magnitude).astype("<i2").tobytes()


def to_pcm16(data: bytes, encoding: str) -> bytes | None:
    """Decode raw audio in a Deepgram ``encoding`` to PCM 16-bit; ``None`` for codecs the fakes don't read."""
    if encoding == "linear16":
        return data[: len(data) - len(data) % 2]
    if encoding == "mulaw":
        return mulaw_to_pcm16(data)
    if encoding == "alaw":
        return alaw_to_pcm16(data)
    return None


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(samples**2)))


def encode(pcm: bytes, codec: str) -> bytes:
    """PCM 16-bit to an output codec named like ElevenLabs' ``output_format`` prefixes (pcm, ulaw, alaw)."""
    if codec == "pcm":
        return pcm
    if codec == "ulaw":
        return pcm16_to_mulaw(pcm)
    if codec == "alaw":
        return pcm16_to_alaw(pcm)
    raise ValueError(f"the fakes cannot produce {codec}")
