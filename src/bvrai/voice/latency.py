"""Per-turn latency: where the time goes between the caller going quiet and the agent answering.

A turn's clock starts when VAD says the caller stopped speaking (``user_stopped``) and records, in
order, the final transcript, the LLM's first token, the TTS's first audio and the moment the agent's
audio starts playing (``bot_started``). Voice-to-voice latency is ``bot_started - user_stopped``. A
milestone seen before the turn's clock started (the greeting, say) or out of order is ignored, and a
turn the caller abandons by talking again is dropped rather than counted as slow.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

MILESTONES = ("transcript_ms", "llm_first_token_ms", "tts_first_audio_ms", "bot_started_ms")


@dataclass
class Turn:
    user_stopped_at: float
    marks: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {m: round((self.marks[m] - self.user_stopped_at) * 1000) for m in self.marks}
        out.update({k: round(v) for k, v in self.extra.items()})
        return out


class TurnLatencyTracker:
    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self._open: Turn | None = None

    def user_stopped(self, at: float) -> None:
        self._open = Turn(user_stopped_at=at)

    def user_started(self) -> None:
        # Talking again before the agent answered: the caller was not done; this turn restarts.
        if self._open is not None and "bot_started_ms" not in self._open.marks:
            self._open = None

    def mark(self, milestone: str, at: float) -> None:
        turn = self._open
        if turn is None or milestone in turn.marks or at < turn.user_stopped_at:
            return
        turn.marks[milestone] = at
        if milestone == "bot_started_ms":
            self.turns.append(turn)
            self._open = None

    def add_extra(self, name: str, ms: float) -> None:
        """Time spent inside the turn by something else, e.g. a knowledge-base search."""
        if self._open is not None:
            self._open.extra[name] = self._open.extra.get(name, 0.0) + ms

    def summary(self) -> dict[str, Any]:
        turns = [t.as_dict() for t in self.turns]
        v2v = [t["bot_started_ms"] for t in turns]
        out: dict[str, Any] = {"turns": turns}
        if v2v:
            out["p50_ms"] = round(statistics.median(v2v))
            out["p90_ms"] = round(_percentile(v2v, 0.9))
        return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
