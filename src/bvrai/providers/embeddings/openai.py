"""``embeddings: openai``: ``POST {base_url}/embeddings`` on OpenAI or any server speaking its protocol.

``ctx.base_url`` is the API root including ``/v1`` (as for the OpenAI LLM). The request asks for
``dimensions`` only for the ``text-embedding-3`` models (the others reject it); results are ordered
by ``index``; base64 answers are decoded. Errors map to the shared provider error types.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any

import httpx

from bvrai.providers.base import (
    ProviderContext,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnavailable,
    error_for_status,
)
from bvrai.providers.cloud._common import require_secret
from bvrai.providers.embeddings.base import normalized

PROVIDER = "embeddings:openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "text-embedding-3-small"
BATCH = 256


class OpenAIEmbedder:
    provider_id = PROVIDER

    def __init__(
        self, *, api_key: str, model: str, dimensions: int, base_url: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self.model, self.dimensions = model, dimensions
        self._url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/embeddings"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = httpx.Timeout(timeout_s, connect=5.0)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        async with httpx.AsyncClient(timeout=self._timeout, trust_env=False) as client:
            for start in range(0, len(texts), BATCH):
                out.extend(await self._batch(client, list(texts[start : start + BATCH])))
        return out

    async def _batch(self, client: httpx.AsyncClient, texts: list[str]) -> list[list[float]]:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.model.startswith("text-embedding-3"):
            body["dimensions"] = self.dimensions
        try:
            response = await client.post(self._url, json=body, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(PROVIDER, f"timed out: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(PROVIDER, f"{type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise error_for_status(PROVIDER, response.status_code, _message(response))
        try:
            data = sorted(response.json()["data"], key=lambda item: int(item["index"]))
            vectors = [_vector(item["embedding"]) for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderRequestError(PROVIDER, f"unexpected answer: {exc}") from None
        if len(vectors) != len(texts) or any(len(v) != self.dimensions for v in vectors):
            sizes = sorted({len(v) for v in vectors})
            raise ProviderRequestError(
                PROVIDER, f"expected {len(texts)} vectors of {self.dimensions}, got {len(vectors)} of {sizes}"
            )
        return [normalized(v) for v in vectors]


def _vector(raw: Any) -> list[float]:
    if isinstance(raw, str):
        data = base64.b64decode(raw)
        return list(struct.unpack(f"<{len(data) // 4}f", data))
    return [float(x) for x in raw]


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def create_embedder(config: Any, ctx: ProviderContext) -> OpenAIEmbedder:
    secret = require_secret(PROVIDER, ctx)
    return OpenAIEmbedder(
        api_key=secret,
        model=getattr(config, "model", None) or DEFAULT_MODEL,
        dimensions=int(getattr(config, "dimensions", None) or 1536),
        base_url=ctx.base_url,
    )
