"""Reading Qwen2.5's tool calls out of a streamed reply, whatever size the pieces arrive in."""

from __future__ import annotations

import json

import pytest

from bvrai.providers.local.tool_calls import TextPiece, ToolCall, ToolCallParser


def _run(reply: str, *, tools: tuple[str, ...] = ("end_call", "transfer_call"), piece: int = 1) -> list[object]:
    parser = ToolCallParser(tools)
    events: list[object] = []
    for i in range(0, len(reply), piece):
        events += parser.feed(reply[i : i + piece])
    events += parser.finish()
    # Adjacent text pieces joined, so the assertions read as what the caller would hear.
    merged: list[object] = []
    for event in events:
        if isinstance(event, TextPiece) and merged and isinstance(merged[-1], TextPiece):
            merged[-1] = TextPiece(merged[-1].text + event.text)
        else:
            merged.append(event)
    return merged


@pytest.mark.parametrize("piece", [1, 3, 1000])
def test_a_tagged_call_becomes_a_call_and_no_tag_is_spoken(piece):
    reply = 'Goodbye!\n<tool_call>\n{"name": "end_call", "arguments": {"reason": "done"}}\n</tool_call>'
    assert _run(reply, piece=piece) == [TextPiece("Goodbye!\n"), ToolCall("end_call", '{"reason": "done"}')]


@pytest.mark.parametrize("piece", [1, 4])
def test_bare_json_at_the_start_of_a_reply_is_read_as_a_call(piece):
    reply = '{"name": "end_call", "arguments": {"reason": "Goodbye"}}'
    assert _run(reply, piece=piece) == [ToolCall("end_call", '{"reason": "Goodbye"}')]


def test_a_fenced_call_and_string_arguments_are_understood():
    reply = '```json\n{"name": "transfer_call", "arguments": "{\\"destination\\": \\"sales\\"}"}\n```'
    assert _run(reply) == [ToolCall("transfer_call", '{"destination": "sales"}')]


def test_a_call_missing_its_last_brace_is_kept():
    assert _run('{"name": "end_call", "arguments": {"reason": "bye"}') == [ToolCall("end_call", '{"reason": "bye"}')]


def test_several_calls_in_one_block_keep_their_order():
    reply = (
        '<tool_call>\n{"name": "transfer_call", "arguments": {}}\n{"name": "end_call", "arguments": {}}\n</tool_call>'
    )
    assert _run(reply) == [ToolCall("transfer_call", "{}"), ToolCall("end_call", "{}")]


def test_plain_text_streams_at_once_and_a_lone_angle_bracket_is_not_held_forever():
    parser = ToolCallParser(["end_call"])
    assert parser.feed("We open at nine") == [TextPiece("We open at nine")]
    assert parser.feed(" <") == [TextPiece(" ")]  # could be the start of a tag: held
    assert parser.feed("3 hours.") == [TextPiece("<3 hours.")]
    assert parser.finish() == []


def test_json_that_names_no_known_tool_is_spoken_as_text():
    reply = '{"name": "launch_rocket", "arguments": {}}'
    assert _run(reply) == [TextPiece(reply)]
    data = json.dumps({"summary": "caller booked a cleaning"})
    assert _run(data, tools=()) == [TextPiece(data)]


def test_an_unreadable_tagged_block_is_dropped_rather_than_spoken():
    assert _run("Sure.<tool_call>not json</tool_call> Anything else?") == [TextPiece("Sure. Anything else?")]


def test_a_reply_cut_off_inside_a_call_still_yields_the_call():
    assert _run('<tool_call>\n{"name": "end_call", "arguments": {}}') == [ToolCall("end_call", "{}")]
