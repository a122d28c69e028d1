"""A caller talks to an agent running entirely on the local models: every turn is heard, understood,
answered, and kept on the call's record."""

from __future__ import annotations

import io
import wave

from bvrai.voice.simulator import converse
from tests.voice.conftest import RECEPTIONIST, publish


async def test_a_two_turn_conversation_on_local_models_is_recorded_in_full(http):
    agent_id = await publish(http, RECEPTIONIST)

    heard, call, transcript = await converse(
        http, agent_id=agent_id, lines=["What time do you open today?", "Thank you, goodbye."]
    )

    said = [(m["role"], m["content"]) for m in transcript["messages"]]
    assert said[0] == ("assistant", "Hello, Bella Pizza, how can I help?")
    users = [text.lower() for role, text in said if role == "user"]
    assert len(users) == 2
    assert "what time" in users[0] and "open" in users[0]
    assert "goodbye" in users[1]
    replies = [text for role, text in said if role == "assistant"][1:]
    assert replies and any("11" in r or "eleven" in r.lower() for r in replies[:1]), replies

    assert call["status"] == "completed" and call["end_reason"] == "caller-hangup"
    assert call["duration_s"] > 5
    turns = call["latency"]["turns"]
    assert len(turns) == 2
    for turn in turns:
        assert 0 < turn["transcript_ms"] <= turn["llm_first_token_ms"] <= turn["bot_started_ms"]
    assert call["latency"]["p50_ms"] > 0

    assert call["has_recording"]
    r = await http.get(f"/v1/calls/{call['id']}/recording")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content)) as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == 16000
        assert wav.getnframes() / 16000 > 5
    assert len(heard.agent_audio()) > 16000 * 2 * 3  # over 3 s of agent speech came down the line
