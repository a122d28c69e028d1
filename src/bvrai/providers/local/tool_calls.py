"""Reading function calls out of a Qwen2.5 reply as it streams.

Qwen2.5's chat template lists the tools in the system prompt and asks for each call as
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. llama.cpp hands back that text as plain
content (llama-cpp-python parses tool calls only for its own function-calling chat formats), so this
parser turns it into calls. The 0.5B model is not always faithful to the format: at low temperature it
often drops the tags and answers with the bare JSON object, sometimes inside a Markdown code fence. A
reply that *starts* with ``{`` or a fence is therefore held back until it ends and read as calls when
it names a known tool; a spoken reply never starts that way, so nothing a caller should hear is lost.

Everything else streams through as text at once, except a trailing fragment that could be the start
of ``<tool_call>`` (held until the next piece shows whether it is one), so a tag is never spoken.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import structlog

log = structlog.get_logger(__name__)

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```\s*$")


@dataclass(frozen=True)
class TextPiece:
    text: str


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # a JSON object, as OpenAI's protocol carries it


Event = TextPiece | ToolCall


class ToolCallParser:
    """Feed it the reply piece by piece; it returns text to speak and complete tool calls, in order."""

    def __init__(self, tool_names: Iterable[str]) -> None:
        self._names = set(tool_names)
        self._buffer = ""
        self._mode: Literal["start", "text", "call", "bare"] = "start"
        self._at_reply_start = True

    def feed(self, text: str) -> list[Event]:
        self._buffer += text
        return self._drain(final=False)

    def finish(self) -> list[Event]:
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> list[Event]:
        events: list[Event] = []
        while True:
            if self._mode == "start":
                stripped = self._buffer.lstrip()
                if not stripped or (OPEN_TAG.startswith(stripped) and not final):
                    if final:
                        self._buffer = ""
                    return events
                if stripped.startswith(OPEN_TAG):
                    self._buffer, self._mode = stripped[len(OPEN_TAG) :], "call"
                elif self._at_reply_start and stripped[0] in "{`":
                    self._buffer, self._mode = stripped, "bare"
                else:
                    # Leading whitespace before the first words is noise; between calls and text it is not.
                    self._buffer = stripped if self._at_reply_start else self._buffer
                    self._mode = "text"
                self._at_reply_start = False
            elif self._mode == "text":
                index = self._buffer.find(OPEN_TAG)
                if index >= 0:
                    self._emit_text(events, self._buffer[:index])
                    self._buffer, self._mode = self._buffer[index + len(OPEN_TAG) :], "call"
                    continue
                keep = 0 if final else _partial_tag_length(self._buffer)
                self._emit_text(events, self._buffer[: len(self._buffer) - keep])
                self._buffer = self._buffer[len(self._buffer) - keep :]
                return events
            elif self._mode == "call":
                index = self._buffer.find(CLOSE_TAG)
                if index < 0 and not final:
                    return events
                body = self._buffer if index < 0 else self._buffer[:index]
                calls = self._calls_in(body)
                if not calls:
                    log.warning("local_llm_unreadable_tool_call", text=body[:200])
                events.extend(calls)
                self._buffer = "" if index < 0 else self._buffer[index + len(CLOSE_TAG) :]
                self._mode = "start"
                if final and not self._buffer:
                    return events
            else:  # bare: a reply that opened with JSON or a fence; only its end tells what it is
                if not final:
                    return events
                calls = self._calls_in(self._buffer)
                if calls:
                    events.extend(calls)
                else:
                    self._emit_text(events, self._buffer)
                self._buffer = ""
                return events

    @staticmethod
    def _emit_text(events: list[Event], text: str) -> None:
        if text:
            events.append(TextPiece(text))

    def _calls_in(self, body: str) -> list[Event]:
        """The known-tool calls among the JSON objects in ``body`` (one or several, fenced or not)."""
        text = _FENCE.sub("", body.strip())
        decoder = json.JSONDecoder()
        calls: list[Event] = []
        position = 0
        while (start := text.find("{", position)) >= 0:
            try:
                obj, position = decoder.raw_decode(text, start)
            except ValueError:
                obj = _with_closing_braces(decoder, text[start:])
                position = len(text)
                if obj is None:
                    break
            call = self._as_call(obj)
            if call is not None:
                calls.append(call)
        return calls

    def _as_call(self, obj: Any) -> ToolCall | None:
        if not isinstance(obj, dict):
            return None
        name = obj.get("name")
        if not isinstance(name, str) or name not in self._names:
            if name is not None:
                log.warning("local_llm_unknown_tool", name=str(name)[:100])
            return None
        arguments = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except ValueError:
                return None
        if not isinstance(arguments, dict):
            return None
        return ToolCall(name, json.dumps(arguments, ensure_ascii=False))


def _with_closing_braces(decoder: json.JSONDecoder, text: str) -> Any:
    """The object ``text`` would be with up to two closing braces added, or None.

    The small model sometimes stops right before the last brace of a call (``{"name": "end_call",
    "arguments": {}``); the intent is unambiguous, so the call is kept rather than dropped.
    """
    for missing in ("}", "}}"):
        try:
            obj, _ = decoder.raw_decode(text.rstrip() + missing)
        except ValueError:
            continue
        return obj
    return None


def _partial_tag_length(text: str) -> int:
    """Length of the longest end of ``text`` that could be the start of ``<tool_call>``."""
    for length in range(min(len(text), len(OPEN_TAG) - 1), 0, -1):
        if OPEN_TAG.startswith(text[-length:]):
            return length
    return 0
