"""The embedding providers: the local MiniLM model (offline, from installed wheels) and any
OpenAI-compatible endpoint, with the shared error types when the endpoint fails."""

from __future__ import annotations

import numpy as np
import pytest

from bvrai.providers import registry
from bvrai.providers.base import ProviderAuthError, ProviderContext, ProviderRequestError
from bvrai.providers.embeddings import local, openai
from tests.fakes.openai import OpenAIFake


async def test_the_local_model_puts_paraphrases_close_and_unrelated_text_far():
    embedder = local.LocalEmbedder()
    vectors = np.array(
        await embedder.embed(
            ["What time do you open?", "Our opening hours start at nine in the morning.", "Parking costs four pounds."]
        )
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similar, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert similar > unrelated + 0.2, (similar, unrelated)
    assert await embedder.embed([]) == []


def test_both_providers_are_registered_with_their_defaults():
    import bvrai.providers.embeddings  # noqa: F401

    assert registry.get("embeddings", "local").impl is local.create_embedder
    assert registry.get("embeddings", "openai").impl is openai.create_embedder
    assert registry.get("embeddings", "openai").capabilities.needs_credential == "openai"


async def test_an_openai_compatible_endpoint_embeds_in_order_and_normalised():
    async with OpenAIFake() as fake:
        ctx = ProviderContext(org_id="org_x", secret=fake.api_key, base_url=fake.url + "/v1")
        embedder = openai.create_embedder(type("C", (), {"model": "text-embedding-3-small", "dimensions": 64})(), ctx)
        vectors = await embedder.embed(["refund policy", "opening hours", "refund policy"])
        assert len(vectors) == 3 and all(len(v) == 64 for v in vectors)
        assert vectors[0] == pytest.approx(vectors[2]) and vectors[0] != pytest.approx(vectors[1])
        assert fake.requests[-1].body["dimensions"] == 64

        bad = ProviderContext(org_id="org_x", secret="sk-wrong", base_url=fake.url + "/v1")
        with pytest.raises(ProviderAuthError):
            await openai.create_embedder(type("C", (), {"model": None, "dimensions": 64})(), bad).embed(["x"])
        with pytest.raises(ProviderRequestError):
            # A server that answers with vectors of another size than the knowledge base was built with.
            await openai.OpenAIEmbedder(
                api_key=fake.api_key, model="text-embedding-ada-002", dimensions=64, base_url=fake.url + "/v1"
            ).embed(["x"])
