"""Cloud providers: each module builds pipecat's own service for one vendor, configured from the
agent spec and the org's secret, with its failures mapped to ``bvrai.providers.base``'s error types.

Importing this package attaches the factories to the registry entries declared in ``registry``. It
needs pipecat with the vendor extras (``pipecat-ai[openai,anthropic,deepgram,elevenlabs]``); the
builder skips the package when they are not installed.
"""

from bvrai.providers import registry
from bvrai.providers.cloud.anthropic import anthropic_llm
from bvrai.providers.cloud.deepgram import deepgram_stt
from bvrai.providers.cloud.elevenlabs import elevenlabs_tts
from bvrai.providers.cloud.openai import openai_llm, openai_stt, openai_tts

registry.register("llm", "openai", impl=openai_llm)
registry.register("llm", "anthropic", impl=anthropic_llm)
registry.register("stt", "deepgram", impl=deepgram_stt)
registry.register("stt", "openai", impl=openai_stt)
registry.register("tts", "elevenlabs", impl=elevenlabs_tts)
registry.register("tts", "openai", impl=openai_tts)

__all__ = ["anthropic_llm", "deepgram_stt", "elevenlabs_tts", "openai_llm", "openai_stt", "openai_tts"]
