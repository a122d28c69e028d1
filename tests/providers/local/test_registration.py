"""Importing ``bvrai.providers.local`` attaches the three factories; importing the registry stays light."""

from __future__ import annotations

import json
import subprocess
import sys

from bvrai.agents.spec import LLMConfig, TranscriberConfig, VoiceConfig
from bvrai.providers import registry
from bvrai.providers.base import ProviderContext
from bvrai.providers.local import create_llm_service, create_stt_service, create_tts_service
from bvrai.providers.local.llm import LocalLLMService
from bvrai.providers.local.stt import LocalWhisperSTTService
from bvrai.providers.local.tts import LocalHibariTTSService

HEAVY = ("pipecat", "faster_whisper", "hibari", "llama_cpp", "ctranslate2", "onnxruntime")


def test_the_local_entries_carry_the_factories():
    assert registry.get("stt", "local").impl is create_stt_service
    assert registry.get("tts", "local").impl is create_tts_service
    assert registry.get("llm", "local").impl is create_llm_service


def test_each_factory_builds_its_pipecat_service(tmp_path):
    ctx = ProviderContext(org_id="org_test", extra={"model_cache_dir": str(tmp_path)})
    assert isinstance(registry.get("stt", "local").impl(TranscriberConfig(), ctx), LocalWhisperSTTService)
    assert isinstance(registry.get("tts", "local").impl(VoiceConfig(), ctx), LocalHibariTTSService)
    # Building the LLM service reads nothing yet: the GGUF is assembled and loaded when a pipeline starts.
    assert isinstance(registry.get("llm", "local").impl(LLMConfig(), ctx), LocalLLMService)
    assert list(tmp_path.iterdir()) == []


def test_importing_the_registry_or_the_local_package_loads_no_model_library():
    code = (
        "import json, sys\n"
        "import bvrai.providers.registry, bvrai.providers.local\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
