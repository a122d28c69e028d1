"""The provider registry: the names a spec may use per stage, their capabilities, and attaching code."""

from __future__ import annotations

import pytest

from bvrai.providers import registry as default
from bvrai.providers.registry import Capabilities, Registry, UnknownProvider, _declare_builtins


def test_every_stage_lists_the_providers_later_issues_implement():
    assert default.names("llm") == ["anthropic", "local", "openai"]
    assert default.names("stt") == ["deepgram", "local", "openai"]
    assert default.names("tts") == ["elevenlabs", "local", "openai"]
    assert default.names("embeddings") == ["local", "openai"]


def test_local_providers_need_no_secret_and_cloud_ones_name_their_vault_entry():
    for entry in default.default_registry.entries():
        if entry.name == "local":
            assert entry.capabilities.needs_credential is None, entry
        else:
            assert entry.capabilities.needs_credential == entry.name, entry


def test_capabilities_describe_what_the_pipeline_can_rely_on():
    assert default.get("stt", "deepgram").capabilities.streaming is True
    assert default.get("stt", "local").capabilities.streaming is False
    assert default.get("tts", "local").capabilities.sample_rates == (24000,)
    assert default.get("llm", "openai").capabilities.accepts_base_url is True
    assert default.get("llm", "local").defaults["model"] == "qwen2.5-0.5b-instruct"
    assert default.get("tts", "local").defaults["voice_id"] == "heart"
    assert default.get("stt", "local").defaults["model"] == "tiny.en"


def test_an_unknown_name_says_which_names_exist():
    with pytest.raises(UnknownProvider) as err:
        default.get("tts", "acme")
    assert str(err.value) == "unknown tts provider 'acme'; known tts providers: elevenlabs, local, openai"
    assert err.value.known == ["elevenlabs", "local", "openai"]


def test_an_implementation_attaches_to_a_declared_entry_and_keeps_its_capabilities():
    reg = Registry()
    _declare_builtins(reg)
    before = reg.get("tts", "elevenlabs")

    class ElevenLabsTTS:
        pass

    entry = reg.register("tts", "elevenlabs", ElevenLabsTTS)
    assert entry.impl is ElevenLabsTTS and reg.get("tts", "elevenlabs").impl is ElevenLabsTTS
    assert entry.capabilities == before.capabilities and entry.defaults == before.defaults
    assert default.get("tts", "elevenlabs").impl is not ElevenLabsTTS  # the process-wide registry is untouched


def test_a_new_provider_can_be_declared_and_bad_stages_are_refused():
    reg = Registry()
    reg.register("stt", "whisper-server", capabilities=Capabilities(streaming=True), defaults={"model": "base"})
    assert reg.names("stt") == ["whisper-server"] and reg.get("stt", "whisper-server").capabilities.streaming
    with pytest.raises(ValueError, match="unknown stage"):
        reg.register("vision", "x")  # type: ignore[arg-type]


def test_a_spec_accepts_a_provider_as_soon_as_it_is_registered():
    from bvrai.agents.spec import AgentSpec

    with pytest.raises(ValueError, match="unknown llm provider 'groq'"):
        AgentSpec.model_validate({"name": "x", "system_prompt": "p", "llm": {"provider": "groq", "model": "m"}})
    default.register("llm", "groq", capabilities=Capabilities(streaming=True), defaults={"model": "llama-3.1-8b"})
    try:
        spec = AgentSpec.model_validate({"name": "x", "system_prompt": "p", "llm": {"provider": "groq"}})
        assert spec.llm.model == "llama-3.1-8b"
    finally:
        default.default_registry._entries.pop(("llm", "groq"))
