"""What every embedding provider offers: texts in, unit-length vectors out, with a fixed model and size.

Unlike the call stages (a pipecat service per call), an embedder is a plain async object: ingestion
embeds documents in batches, and retrieval embeds one query in the middle of a call. Failures use the
shared provider error types (``bvrai.providers.base``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol


class Embedder(Protocol):
    provider_id: str  # "embeddings:local"
    model: str
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, each of length ``dimensions`` and L2 norm 1."""
        ...


def normalized(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0:
        return [0.0] * len(vector)
    return [float(x) / norm for x in vector]
