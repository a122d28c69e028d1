"""The agent editor's form: a stored spec to form values, submitted values back to a spec document.

Scalar fields get their own inputs; lists of objects (tools, fallbacks) and free JSON (metadata, the
structured-data schema) are JSON text areas; lists of strings are one entry per line. Whatever the
user types, the spec's own validation decides, and its messages are shown next to the field they
concern (``FormErrors``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bvrai.agents.spec import AgentSpec
from bvrai.providers import registry
from bvrai.web.forms import FormErrors

SECTIONS = ("llm", "voice", "transcriber")
TEXT_FIELDS = (
    "name",
    "first_speaker",
    "first_message",
    "system_prompt",
    "language",
    "llm.provider",
    "llm.model",
    "llm.temperature",
    "llm.max_tokens",
    "llm.base_url",
    "voice.provider",
    "voice.voice_id",
    "voice.model",
    "voice.speed",
    "transcriber.provider",
    "transcriber.model",
    "transcriber.language",
    "turn.vad_stop_secs",
    "turn.min_interruption_words",
    "max_duration_s",
    "silence_timeout_s",
    "analysis.success_rubric",
    "webhook_url",
)
BOOL_FIELDS = ("turn.smart_turn", "turn.interruptions", "recording", "analysis.summary")
LINE_FIELDS = ("end_call_phrases", "knowledge_base_ids")
JSON_FIELDS = ("llm.fallbacks", "voice.fallbacks", "tools", "analysis.structured_data_schema", "metadata")
GROUPS = ("llm", "voice", "transcriber", "turn", "analysis")
KNOWN_FIELDS = set(TEXT_FIELDS) | set(BOOL_FIELDS) | set(LINE_FIELDS) | set(JSON_FIELDS) | set(GROUPS)

TOOL_EXAMPLE = json.dumps(
    [
        {"type": "end_call", "message": "Goodbye!"},
        {
            "type": "http",
            "name": "check_order",
            "description": "Look up an order by its number",
            "url": "https://example.com/orders",
            "parameters": {"type": "object", "properties": {"number": {"type": "string"}}, "required": ["number"]},
        },
    ],
    indent=2,
)


@dataclass(frozen=True)
class ProviderChoice:
    name: str
    description: str
    defaults: dict[str, Any]


def provider_choices() -> dict[str, list[ProviderChoice]]:
    return {
        stage: [
            ProviderChoice(e.name, e.description, dict(e.defaults)) for e in registry.default_registry.entries(stage)
        ]
        for stage in ("llm", "tts", "stt")
    }


def default_spec() -> dict[str, Any]:
    """The values a new agent's form starts with: every default of the spec, name and prompt empty."""
    spec = AgentSpec.model_validate({"name": "New agent", "system_prompt": "-"}).stored()
    spec["name"], spec["system_prompt"] = "", ""
    return spec


def _get(spec: dict[str, Any], dotted: str) -> Any:
    value: Any = spec
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _set(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def spec_to_values(spec: dict[str, Any]) -> dict[str, Any]:
    """Form values (strings and booleans) for a stored spec."""
    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = _get(spec, name)
        values[name] = "" if value is None else str(value)
    for name in BOOL_FIELDS:
        values[name] = bool(_get(spec, name))
    for name in LINE_FIELDS:
        values[name] = "\n".join(_get(spec, name) or [])
    for name in JSON_FIELDS:
        value = _get(spec, name)
        values[name] = "" if value in (None, [], {}) else json.dumps(value, indent=2, ensure_ascii=False)
    for section in SECTIONS:
        values[f"_was.{section}.provider"] = values[f"{section}.provider"]
    return values


def _stage(section: str) -> str:
    return {"llm": "llm", "voice": "tts", "transcriber": "stt"}[section]


def values_to_spec(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any], FormErrors]:
    """The spec document the form describes, the values to show again, and the errors found reading it.

    An empty input means "the default". When a provider changes and its model (or voice) field still
    holds the previous provider's default, that value is dropped so the new provider's default applies.
    """
    errors = FormErrors()
    spec: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        raw = form.get(name, "")
        values[name] = raw
        text = raw if name in ("system_prompt", "first_message") else raw.strip()
        if text.strip():
            _set(spec, name, text)
    for name in BOOL_FIELDS:
        checked = form.get(name, "false") == "true"
        values[name] = checked
        _set(spec, name, checked)
    for name in LINE_FIELDS:
        raw = form.get(name, "")
        values[name] = raw
        _set(spec, name, [line.strip() for line in raw.splitlines() if line.strip()])
    for name in JSON_FIELDS:
        raw = form.get(name, "")
        values[name] = raw
        if not raw.strip():
            continue
        try:
            _set(spec, name, json.loads(raw))
        except json.JSONDecodeError as exc:
            errors.add(name, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    for section in SECTIONS:
        was = form.get(f"_was.{section}.provider", "")
        values[f"_was.{section}.provider"] = was
        now = _get(spec, f"{section}.provider")
        if not was or not now or was == now:
            continue
        try:
            old_defaults = registry.get(_stage(section), was).defaults
        except registry.UnknownProvider:
            continue
        for key in ("model", "voice_id"):
            current = _get(spec, f"{section}.{key}")
            if current is not None and current == old_defaults.get(key):
                spec[section].pop(key, None)
                values[f"{section}.{key}"] = ""
    return spec, values, errors
