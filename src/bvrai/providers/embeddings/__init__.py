"""Embedding providers: ``local`` (MiniLM ONNX in process) and ``openai`` (any compatible endpoint).

Importing this package attaches the factories to the registry entries ``("embeddings", "local")``
and ``("embeddings", "openai")`` declared in ``bvrai.providers.registry``. Neither import is heavy:
onnxruntime and the tokenizer load on the first ``embed``.
"""

from bvrai.providers import registry
from bvrai.providers.embeddings import local, openai
from bvrai.providers.embeddings.base import Embedder

registry.register("embeddings", "local", impl=local.create_embedder)
registry.register("embeddings", "openai", impl=openai.create_embedder)

__all__ = ["Embedder"]
