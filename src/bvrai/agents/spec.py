"""The agent spec: the validated document that says how an agent talks, listens, thinks and acts.

It is what ``POST /v1/agents`` takes, what a draft holds and what a published version freezes; the
call session builds its pipeline from it. Everything is bounded (lengths, list sizes, ranges) and
unknown fields are refused, so a typo is a 422 rather than a setting silently ignored. Provider names
are checked against ``bvrai.providers.registry``; provider-specific fields a user leaves out (model,
voice) are filled from the registry's defaults so a stored spec is always explicit.

Documented field by field in docs/agent-spec.md; keep the two in step.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from bvrai.kit.phone import to_e164
from bvrai.providers import registry

# ``{{ name }}`` placeholders filled from the call (caller number, CRM fields, campaign contact...).
VARIABLE_PATTERN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")


def template_variables(*texts: str | None) -> list[str]:
    """The distinct ``{{variable}}`` names used in the texts, in order of first use."""
    seen: dict[str, None] = {}
    for text in texts:
        for match in VARIABLE_PATTERN.finditer(text or ""):
            seen.setdefault(match.group(1))
    return list(seen)


def spec_digest(spec: dict[str, Any]) -> str:
    """A stable hash of a stored spec, to tell whether a draft differs from a published version."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- field types -----------------------------------------------------------------------------------------------


def _known(stage: str) -> AfterValidator:
    def check(name: str) -> str:
        try:
            registry.get(stage, name)
        except registry.UnknownProvider as exc:
            raise ValueError(str(exc)) from None
        return name

    return AfterValidator(check)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError("must not embed credentials; store secrets in the credentials vault")
    return value


def _json_size(limit: int) -> AfterValidator:
    def check(value: Any) -> Any:
        try:
            text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        except ValueError:
            # Python's JSON parser lets NaN and Infinity in; PostgreSQL's json type would refuse them.
            raise ValueError("must not contain NaN or Infinity") from None
        if len(text) > limit:
            raise ValueError(f"must serialise to at most {limit} bytes of JSON")
        return value

    return AfterValidator(check)


_JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def _check_schema_node(node: Any, path: str, depth: int) -> None:
    if not isinstance(node, dict):
        raise ValueError(f"JSON schema at {path} must be an object")
    if depth > 8:
        raise ValueError("JSON schema nests deeper than 8 levels")
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for k in kinds:
        if k not in _JSON_TYPES:
            raise ValueError(f"JSON schema at {path}: unknown type {k!r}")
    props = node.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            raise ValueError(f"JSON schema at {path}: 'properties' must be an object")
        for name, sub in props.items():
            _check_schema_node(sub, f"{path}.properties.{name}", depth + 1)
    required = node.get("required")
    if required is not None:
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise ValueError(f"JSON schema at {path}: 'required' must be a list of property names")
        missing = [r for r in required if r not in (props or {})]
        if missing:
            raise ValueError(f"JSON schema at {path}: required names no property: {', '.join(missing)}")
    if "items" in node:
        _check_schema_node(node["items"], f"{path}.items", depth + 1)


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # A light structural check, enough to catch mistakes before an LLM or the analyser sees the schema;
    # it is not a full JSON Schema meta-validation.
    if schema.get("type") != "object":
        raise ValueError('JSON schema must have "type": "object"')
    _check_schema_node(schema, "$", 0)
    return schema


def _unique(what: str) -> AfterValidator:
    def check(values: list[Any]) -> list[Any]:
        if len(set(values)) != len(values):
            raise ValueError(f"{what} must be unique")
        return values

    return AfterValidator(check)


# Single-line labels, without control characters (the agent name is also a plain column, and
# PostgreSQL text cannot hold NUL).
_LABEL = StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
Name = Annotated[str, _LABEL]
ModelName = Annotated[str, _LABEL]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]
Utterance = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Language = Annotated[
    str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35), Field(examples=["en", "en-US"])
]
HttpUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_http_url)]
E164 = Annotated[
    str,
    StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$"),
    AfterValidator(to_e164),
    Field(examples=["+14155550123"]),
]
KnowledgeBaseId = Annotated[str, StringConstraints(pattern=r"^kb_[0-9a-z]{1,60}$")]
CredentialId = Annotated[str, StringConstraints(pattern=r"^cred_[0-9a-z]{1,60}$")]
ToolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]
JsonSchemaObject = Annotated[dict[str, Any], AfterValidator(_object_schema), _json_size(16_384)]
Temperature = Annotated[float, Field(ge=0, le=2)]
MaxTokens = Annotated[int, Field(ge=1, le=8192)]
Speed = Annotated[float, Field(ge=0.5, le=2.0)]

LLMProvider = Annotated[str, StringConstraints(max_length=50), _known("llm")]
TTSProvider = Annotated[str, StringConstraints(max_length=50), _known("tts")]
STTProvider = Annotated[str, StringConstraints(max_length=50), _known("stt")]


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def _fill_defaults(self, stage: str, provider: str, *fields: str) -> None:
        defaults = registry.get(stage, provider).defaults
        for f in fields:
            if getattr(self, f) is None and f in defaults:
                setattr(self, f, defaults[f])


def _check_base_url(provider: str, base_url: str | None) -> None:
    if base_url is not None and not registry.get("llm", provider).capabilities.accepts_base_url:
        raise ValueError(f"llm provider '{provider}' does not take a base_url")


# --- sections --------------------------------------------------------------------------------------------------


class LLMFallback(SpecModel):
    """Tried in order when the primary LLM fails or times out; unset numbers follow the primary."""

    provider: LLMProvider
    model: ModelName | None = Field(default=None, description="Defaults to the provider's default model")
    base_url: HttpUrl | None = None
    temperature: Temperature | None = None
    max_tokens: MaxTokens | None = None

    @model_validator(mode="after")
    def _complete(self) -> LLMFallback:
        self._fill_defaults("llm", self.provider, "model")
        _check_base_url(self.provider, self.base_url)
        return self


class LLMConfig(SpecModel):
    provider: LLMProvider = "local"
    model: ModelName | None = Field(default=None, description="Defaults to the provider's default model")
    temperature: Temperature = 0.7
    max_tokens: MaxTokens = Field(default=300, description="Upper bound per reply; spoken replies should be short")
    base_url: HttpUrl | None = Field(default=None, description="Another server speaking the provider's protocol")
    fallbacks: list[LLMFallback] = Field(default_factory=list, max_length=3)

    @model_validator(mode="after")
    def _complete(self) -> LLMConfig:
        self._fill_defaults("llm", self.provider, "model")
        _check_base_url(self.provider, self.base_url)
        return self


class VoiceFallback(SpecModel):
    provider: TTSProvider
    voice_id: ModelName | None = Field(default=None, description="Defaults to the provider's default voice")
    model: ModelName | None = None
    speed: Speed | None = None

    @model_validator(mode="after")
    def _complete(self) -> VoiceFallback:
        self._fill_defaults("tts", self.provider, "voice_id", "model")
        return self


class VoiceConfig(SpecModel):
    provider: TTSProvider = "local"
    voice_id: ModelName | None = Field(default=None, description="Defaults to the provider's default voice")
    model: ModelName | None = Field(default=None, description="Defaults to the provider's default model, if any")
    speed: Speed = 1.0
    fallbacks: list[VoiceFallback] = Field(default_factory=list, max_length=3)

    @model_validator(mode="after")
    def _complete(self) -> VoiceConfig:
        self._fill_defaults("tts", self.provider, "voice_id", "model")
        return self


class TranscriberConfig(SpecModel):
    provider: STTProvider = "local"
    model: ModelName | None = Field(default=None, description="Defaults to the provider's default model")
    language: Language | None = Field(default=None, description="Defaults to the agent's language")

    @model_validator(mode="after")
    def _complete(self) -> TranscriberConfig:
        self._fill_defaults("stt", self.provider, "model")
        return self


class TurnConfig(SpecModel):
    vad_stop_secs: float | None = Field(
        default=None,
        ge=0.05,
        le=3.0,
        description="Silence that ends a user's speech segment; defaults to 0.2 with smart_turn, 0.8 without",
    )
    smart_turn: bool = Field(default=True, description="Let the Smart Turn model decide whether the user is done")
    interruptions: bool = Field(default=True, description="The user may talk over the agent to stop it")
    min_interruption_words: int = Field(
        default=0, ge=0, le=10, description="Words the user must say before the agent stops; 0 = any speech"
    )

    @model_validator(mode="after")
    def _complete(self) -> TurnConfig:
        if self.vad_stop_secs is None:
            self.vad_stop_secs = 0.2 if self.smart_turn else 0.8
        return self


# --- tools -----------------------------------------------------------------------------------------------------


class EndCallTool(SpecModel):
    type: Literal["end_call"]
    name: ToolName = "end_call"
    description: Description | None = Field(default=None, description="Overrides the built-in description")
    message: Utterance | None = Field(default=None, description="Said before hanging up")


class TransferDestination(SpecModel):
    number: E164
    description: Description | None = Field(default=None, description="When the agent should choose it")


class TransferCallTool(SpecModel):
    type: Literal["transfer_call"]
    name: ToolName = "transfer_call"
    description: Description | None = None
    destinations: Annotated[list[TransferDestination], Field(min_length=1, max_length=20)]
    message: Utterance | None = Field(default=None, description="Said before transferring")

    @model_validator(mode="after")
    def _distinct(self) -> TransferCallTool:
        numbers = [d.number for d in self.destinations]
        if len(set(numbers)) != len(numbers):
            raise ValueError("transfer destinations must be distinct numbers")
        return self


class SendDtmfTool(SpecModel):
    type: Literal["send_dtmf"]
    name: ToolName = "send_dtmf"
    description: Description | None = None


class SearchKnowledgeBaseTool(SpecModel):
    type: Literal["search_knowledge_base"]
    name: ToolName = "search_knowledge_base"
    description: Description | None = None
    top_k: int = Field(default=4, ge=1, le=20, description="Passages returned per search")
    mode: Literal["tool", "auto", "both"] = Field(
        default="tool",
        description=(
            "tool: the LLM calls search_knowledge_base when it needs a fact; auto: every caller turn is "
            "searched and the best passages are added to the LLM's instructions before it answers (no tool "
            "is offered); both: the two together"
        ),
    )


# Headers that carry secrets belong in the vault (credential_id), not in a spec everyone can read.
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
HeaderValue = Annotated[str, StringConstraints(pattern=r"^[^\r\n]*$", max_length=1000)]


def _public_headers(headers: dict[str, str]) -> dict[str, str]:
    secret = sorted(h for h in headers if h.lower() in _SECRET_HEADERS)
    if secret:
        raise ValueError(
            f"header {secret[0]!r} carries a secret; store it in the credentials vault and set credential_id"
        )
    return headers


class HttpTool(SpecModel):
    """A function the LLM may call: BVRAI sends its arguments to ``url`` and speaks from the answer."""

    type: Literal["http"]
    name: ToolName
    description: Description = Field(description="Tells the LLM what the tool does and when to use it")
    url: HttpUrl
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: Annotated[dict[HeaderName, HeaderValue], Field(max_length=20), AfterValidator(_public_headers)] = Field(
        default_factory=dict
    )
    credential_id: CredentialId | None = Field(
        default=None, description="A vault credential whose secret is sent as 'Authorization: Bearer <secret>'"
    )
    timeout_s: float = Field(default=10.0, ge=0.5, le=30.0)
    parameters: JsonSchemaObject = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON schema (type object) of the arguments the LLM fills",
    )


Tool = Annotated[
    EndCallTool | TransferCallTool | SendDtmfTool | SearchKnowledgeBaseTool | HttpTool, Field(discriminator="type")
]


def _unique_tool_names(tools: list[Tool]) -> list[Tool]:
    names = [t.name for t in tools]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"tool names must be unique; repeated: {', '.join(dupes)}")
    return tools


# --- analysis and the spec -------------------------------------------------------------------------------------


class AnalysisConfig(SpecModel):
    summary: bool = Field(default=True, description="Write a short summary of each call")
    structured_data_schema: JsonSchemaObject | None = Field(
        default=None, description="JSON schema (type object) of data to extract from each call"
    )
    success_rubric: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)] | None = (
        Field(default=None, description="How to judge whether a call succeeded")
    )


class AgentSpec(SpecModel):
    """How an agent talks, listens, thinks and acts (docs/agent-spec.md). Unknown fields are refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Receptionist", "system_prompt": "You answer calls for {{company}}."}]
        },
    )

    name: Name
    first_speaker: Literal["agent", "user"] = "agent"
    first_message: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = Field(
        default=None, description="The agent's opening line; when null the LLM writes one from the prompt"
    )
    system_prompt: Annotated[str, StringConstraints(min_length=1, max_length=32_000)] = Field(
        description="Instructions for the LLM; {{variables}} are filled from the call"
    )
    language: Language = "en"
    llm: LLMConfig = Field(default_factory=LLMConfig)
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    transcriber: TranscriberConfig = Field(default_factory=TranscriberConfig)
    turn: TurnConfig = Field(default_factory=TurnConfig)
    tools: Annotated[list[Tool], Field(max_length=32), AfterValidator(_unique_tool_names)] = Field(default_factory=list)
    knowledge_base_ids: Annotated[list[KnowledgeBaseId], Field(max_length=20), _unique("knowledge_base_ids")] = Field(
        default_factory=list
    )
    end_call_phrases: Annotated[list[Utterance], Field(max_length=20)] = Field(
        default_factory=list, description="The agent hangs up after saying one of these"
    )
    max_duration_s: int = Field(default=1800, ge=10, le=14_400)
    silence_timeout_s: int = Field(default=30, ge=5, le=3600, description="Hang up after this long without speech")
    recording: bool = True
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    webhook_url: HttpUrl | None = Field(default=None, description="Also receives this agent's call events")
    metadata: Annotated[
        dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Any],
        Field(max_length=50),
        _json_size(16_384),
    ] = Field(default_factory=dict, description="Your own data, returned as is")

    @model_validator(mode="after")
    def _consistent(self) -> AgentSpec:
        if any(isinstance(t, SearchKnowledgeBaseTool) for t in self.tools) and not self.knowledge_base_ids:
            raise ValueError("the search_knowledge_base tool needs at least one entry in knowledge_base_ids")
        heard = self.transcriber.language or self.language
        if (self.transcriber.model or "").endswith(".en") and not heard.startswith("en"):
            raise ValueError(
                f"transcriber model '{self.transcriber.model}' only understands English, "
                f"but the language is '{heard}'; choose a multilingual model"
            )
        if self.silence_timeout_s >= self.max_duration_s:
            raise ValueError("silence_timeout_s must be shorter than max_duration_s")
        return self

    def variables(self) -> list[str]:
        """The ``{{variable}}`` names the call must (or may) supply, from the prompt and first message."""
        return template_variables(self.system_prompt, self.first_message)

    def stored(self) -> dict[str, Any]:
        """The JSON document kept in the database (every default made explicit)."""
        return self.model_dump(mode="json")
