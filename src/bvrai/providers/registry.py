"""The provider registry: which engines exist for each pipeline stage, and what each one can do.

Every provider an agent spec may name is declared here, so a spec is validated against one list
whether or not the engine's code is importable in this process (a deployment without the ``local``
extra still accepts, stores and publishes specs that use it). The modules that implement a provider
attach their class to its entry with ``register(stage, name, impl)``; the call session builder then
finds it with ``get(stage, name).impl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

Stage = Literal["llm", "stt", "tts", "embeddings"]
STAGES: tuple[Stage, ...] = get_args(Stage)


class UnknownProvider(LookupError):
    def __init__(self, stage: str, name: str, known: list[str]) -> None:
        self.stage, self.name, self.known = stage, name, known
        super().__init__(f"unknown {stage} provider '{name}'; known {stage} providers: {', '.join(known)}")


@dataclass(frozen=True)
class Capabilities:
    streaming: bool = False  # llm: token stream; stt: partial results while the caller talks; tts: audio chunks
    word_timestamps: bool = False  # stt: per-word times; tts: alignment of audio to text (barge-in transcripts)
    tools: bool = False  # llm: function calling
    sample_rates: tuple[int, ...] = ()  # audio rates the engine accepts (stt) or produces (tts) natively
    needs_credential: str | None = None  # the vault `provider` whose secret this engine needs; None = no secret
    accepts_base_url: bool = False  # llm: may point at another server speaking the same protocol


@dataclass(frozen=True)
class ProviderEntry:
    stage: Stage
    name: str
    capabilities: Capabilities
    # Spec fields a user may leave out for this provider (e.g. {"model": "nova-3"}).
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    impl: Any = None  # the implementing class, attached by the provider's own module


class Registry:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], ProviderEntry] = {}

    def register(
        self,
        stage: Stage,
        name: str,
        impl: Any = None,
        *,
        capabilities: Capabilities | None = None,
        defaults: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> ProviderEntry:
        """Declare a provider, or attach an implementation to one already declared.

        Arguments left out keep their declared values, so ``register("tts", "elevenlabs", ElevenLabsTTS)``
        adds the class without restating capabilities.
        """
        if stage not in STAGES:
            raise ValueError(f"unknown stage '{stage}'; stages: {', '.join(STAGES)}")
        current = self._entries.get((stage, name)) or ProviderEntry(stage, name, Capabilities())
        updates: dict[str, Any] = {}
        if impl is not None:
            updates["impl"] = impl
        if capabilities is not None:
            updates["capabilities"] = capabilities
        if defaults is not None:
            updates["defaults"] = dict(defaults)
        if description is not None:
            updates["description"] = description
        entry = replace(current, **updates)
        self._entries[(stage, name)] = entry
        return entry

    def get(self, stage: str, name: str) -> ProviderEntry:
        entry = self._entries.get((stage, name))
        if entry is None:
            raise UnknownProvider(stage, name, self.names(stage))
        return entry

    def names(self, stage: str) -> list[str]:
        return sorted(n for s, n in self._entries if s == stage)

    def entries(self, stage: str | None = None) -> list[ProviderEntry]:
        return sorted(
            (e for e in self._entries.values() if stage is None or e.stage == stage),
            key=lambda e: (e.stage, e.name),
        )


def _declare_builtins(reg: Registry) -> None:
    llm = Capabilities(streaming=True, tools=True)
    reg.register(
        "llm",
        "local",
        capabilities=replace(llm, accepts_base_url=True),
        defaults={"model": "qwen2.5-0.5b-instruct"},
        description="llama.cpp with a bundled GGUF model, in-process; base_url points at a llama.cpp server instead",
    )
    reg.register(
        "llm",
        "openai",
        capabilities=replace(llm, needs_credential="openai", accepts_base_url=True),
        defaults={"model": "gpt-4o-mini"},
        description="OpenAI Chat Completions, or any server speaking that protocol through base_url",
    )
    reg.register(
        "llm",
        "anthropic",
        capabilities=replace(llm, needs_credential="anthropic"),
        defaults={"model": "claude-haiku-4-5"},
        description="Anthropic Messages API",
    )

    reg.register(
        "stt",
        "local",
        capabilities=Capabilities(word_timestamps=True, sample_rates=(16000,)),
        defaults={"model": "tiny.en"},
        description="faster-whisper with bundled Whisper weights; transcribes each utterance after VAD",
    )
    reg.register(
        "stt",
        "deepgram",
        capabilities=Capabilities(
            streaming=True,
            word_timestamps=True,
            sample_rates=(8000, 16000, 24000, 48000),
            needs_credential="deepgram",
        ),
        defaults={"model": "nova-3"},
        description="Deepgram live streaming transcription",
    )
    reg.register(
        "stt",
        "openai",
        capabilities=Capabilities(word_timestamps=True, sample_rates=(16000, 24000), needs_credential="openai"),
        defaults={"model": "gpt-4o-transcribe"},
        description="OpenAI audio transcriptions, per utterance",
    )

    reg.register(
        "tts",
        "local",
        capabilities=Capabilities(streaming=True, sample_rates=(24000,)),
        defaults={"voice_id": "heart"},
        description="hibari-tts, in-process",
    )
    reg.register(
        "tts",
        "elevenlabs",
        capabilities=Capabilities(
            streaming=True,
            word_timestamps=True,
            sample_rates=(8000, 16000, 22050, 24000, 44100),
            needs_credential="elevenlabs",
        ),
        defaults={"voice_id": "21m00Tcm4TlvDq8ikWAM", "model": "eleven_flash_v2_5"},
        description="ElevenLabs streaming text-to-speech",
    )
    reg.register(
        "tts",
        "openai",
        capabilities=Capabilities(streaming=True, sample_rates=(24000,), needs_credential="openai"),
        defaults={"voice_id": "alloy", "model": "gpt-4o-mini-tts"},
        description="OpenAI speech",
    )

    reg.register(
        "embeddings",
        "local",
        capabilities=Capabilities(),
        defaults={"model": "all-MiniLM-L6-v2", "dimensions": 384},
        description="all-MiniLM-L6-v2 int8 ONNX, in-process",
    )
    reg.register(
        "embeddings",
        "openai",
        capabilities=Capabilities(needs_credential="openai"),
        defaults={"model": "text-embedding-3-small", "dimensions": 1536},
        description="OpenAI embeddings",
    )


default_registry = Registry()
_declare_builtins(default_registry)

# Module-level shortcuts on the process-wide registry.
register = default_registry.register
get = default_registry.get
names = default_registry.names
