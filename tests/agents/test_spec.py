"""The agent spec as a Python object: defaults, template variables, bounds (no database needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bvrai.agents.spec import AgentSpec, spec_digest, template_variables


def test_template_variables_are_listed_once_in_order_of_use():
    assert template_variables("Hi {{ name }}, {{company}} here. {{name}}?", None, "{{ a.b }} {{1bad}} {x}") == [
        "name",
        "company",
        "a.b",
    ]
    spec = AgentSpec(name="x", first_message="Hello {{caller}}", system_prompt="For {{company}} and {{caller}}")
    assert spec.variables() == ["company", "caller"]


def test_turn_timing_follows_smart_turn_unless_set():
    assert AgentSpec(name="x", system_prompt="p").turn.vad_stop_secs == 0.2
    assert (
        AgentSpec.model_validate({"name": "x", "system_prompt": "p", "turn": {"smart_turn": False}}).turn.vad_stop_secs
        == 0.8
    )
    explicit = {"name": "x", "system_prompt": "p", "turn": {"smart_turn": False, "vad_stop_secs": 0.5}}
    assert AgentSpec.model_validate(explicit).turn.vad_stop_secs == 0.5


def test_a_stored_spec_validates_back_to_itself():
    stored = AgentSpec.model_validate({"name": "x", "system_prompt": "p", "voice": {"provider": "openai"}}).stored()
    assert stored["voice"] == {
        "provider": "openai",
        "voice_id": "alloy",
        "model": "gpt-4o-mini-tts",
        "speed": 1.0,
        "fallbacks": [],
    }
    assert AgentSpec.model_validate(stored).stored() == stored
    assert spec_digest(stored) == spec_digest(dict(reversed(list(stored.items()))))


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "", "system_prompt": "p"},
        {"name": "x" * 201, "system_prompt": "p"},
        {"name": "x", "system_prompt": "p" * 32_001},
        {"name": "x", "system_prompt": "p", "first_speaker": "robot"},
        {"name": "x", "system_prompt": "p", "end_call_phrases": ["bye"] * 21},
        {"name": "x", "system_prompt": "p", "tools": [{"type": "end_call", "name": f"t{i}"} for i in range(33)]},
        {"name": "x", "system_prompt": "p", "metadata": {"blob": "x" * 20_000}},
        {"name": "x", "system_prompt": "p", "voice": {"speed": 3}},
        {"name": "x", "system_prompt": "p", "max_duration_s": 5},
        {"name": "x", "system_prompt": "p", "language": "English"},
        {"name": "x", "system_prompt": "p", "webhook_url": "https://user:pw@example.com/hook"},
        {"name": "x", "system_prompt": "p", "knowledge_base_ids": ["kb_a", "kb_a"]},
        {"name": "x", "system_prompt": "p", "llm": {"fallbacks": [{"provider": "local"}] * 4}},
        {"name": "x", "system_prompt": "p", "tools": [{"type": "transfer_call", "destinations": []}]},
        # Shaped like E.164 but not a number any carrier could dial.
        {
            "name": "x",
            "system_prompt": "p",
            "tools": [{"type": "transfer_call", "destinations": [{"number": "+19999999999"}]}],
        },
        {
            "name": "x",
            "system_prompt": "p",
            "tools": [{"type": "transfer_call", "destinations": [{"number": "+14155550123"}] * 2}],
        },
        {
            "name": "x",
            "system_prompt": "p",
            "tools": [
                {
                    "type": "http",
                    "name": "f",
                    "description": "d",
                    "url": "https://example.com",
                    "parameters": {"type": "object", "properties": {"a": {"type": "text"}}},
                }
            ],
        },
        {
            "name": "x",
            "system_prompt": "p",
            "tools": [
                {
                    "type": "http",
                    "name": "f",
                    "description": "d",
                    "url": "https://example.com",
                    "parameters": {"type": "object", "properties": {}, "required": ["ghost"]},
                }
            ],
        },
        {
            "name": "x",
            "system_prompt": "p",
            "tools": [{"type": "http", "name": "has space", "description": "d", "url": "https://e.com"}],
        },
    ],
)
def test_out_of_bounds_values_are_refused(bad):
    with pytest.raises(ValidationError):
        AgentSpec.model_validate(bad)


def test_the_documented_examples_are_valid_specs():
    doc = (Path(__file__).parents[2] / "docs" / "agent-spec.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", doc, flags=re.DOTALL)
    assert len(blocks) == 2
    for block in blocks:
        AgentSpec.model_validate(json.loads(block))
