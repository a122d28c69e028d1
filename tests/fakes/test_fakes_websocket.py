"""The WebSocket fakes (Deepgram live, ElevenLabs stream-input) speak their protocols: handshake
refusals, message shapes, control messages and the server's own closes."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from tests.fakes.audio import silence, tone
from tests.fakes.deepgram import DeepgramFake
from tests.fakes.elevenlabs import ElevenLabsFake

LISTEN = (
    "/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000&interim_results=true&vad_events=true"
    "&utterance_end_ms=1000"
)


async def read_until_close(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    messages = []
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            messages.append(json.loads(msg.data))
    return messages


async def test_deepgram_refuses_bad_credentials_and_bad_queries_at_the_handshake(deepgram_fake: DeepgramFake) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(deepgram_fake.ws_url + LISTEN, headers={"Authorization": "Token wrong"})
        assert refused.value.status == 401
        assert refused.value.headers["dg-error"] == "Invalid credentials."
        async with http.get(deepgram_fake.url + LISTEN, headers={"Authorization": "Token wrong"}) as r:
            assert (await r.json())["err_code"] == "INVALID_AUTH"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(
                deepgram_fake.ws_url + "/v1/listen?encoding=linear16",
                headers={"Authorization": f"Token {deepgram_fake.api_key}"},
            )
        assert refused.value.status == 400
        # Browsers authenticate with the subprotocol instead of a header.
        ws = await http.ws_connect(deepgram_fake.ws_url + LISTEN, protocols=("token", deepgram_fake.api_key))
        await ws.close()


async def test_deepgram_streams_results_and_closes_with_metadata(deepgram_fake: DeepgramFake) -> None:
    deepgram_fake.say("book a table for two")
    audio = silence(0.2, 16000) + tone(1.0, 16000) + silence(1.5, 16000)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            deepgram_fake.ws_url + LISTEN, headers={"Authorization": f"Token {deepgram_fake.api_key}"}
        )
        for i in range(0, len(audio), 640):
            await ws.send_bytes(audio[i : i + 640])
        await ws.send_str(json.dumps({"type": "KeepAlive"}))
        await ws.send_str(json.dumps({"type": "CloseStream"}))
        messages = await read_until_close(ws)
        assert ws.close_code == 1000
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "SpeechStarted"
    assert kinds[-2:] == ["UtteranceEnd", "Metadata"] or kinds[-1] == "Metadata"
    results = [m for m in messages if m["type"] == "Results"]
    interim, final = [r for r in results if not r["is_final"]], [r for r in results if r["is_final"]]
    assert interim and all(len(r["channel"]["alternatives"][0]["transcript"]) < 20 for r in interim)
    assert final[0]["speech_final"] is True
    alternative = final[0]["channel"]["alternatives"][0]
    assert alternative["transcript"] == "book a table for two"
    assert [w["word"] for w in alternative["words"]] == ["book", "a", "table", "for", "two"]
    assert final[0]["start"] == pytest.approx(0.2, abs=0.03)
    assert final[0]["channel_index"] == [0, 1]
    metadata = messages[-1]
    assert metadata["duration"] == pytest.approx(2.7, abs=0.05)
    assert metadata["channels"] == 1


async def test_deepgram_closes_an_idle_stream_with_net_0001() -> None:
    async with DeepgramFake(inactivity_timeout=0.2) as fake, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(fake.ws_url + LISTEN, headers={"Authorization": f"Token {fake.api_key}"})
        await read_until_close(ws)
        assert ws.close_code == 1011
        assert fake.sessions[0].close_code == 1011


async def test_deepgram_finalize_flushes_the_utterance(deepgram_fake: DeepgramFake) -> None:
    deepgram_fake.say("hello")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            deepgram_fake.ws_url + LISTEN, headers={"Authorization": f"Token {deepgram_fake.api_key}"}
        )
        await ws.send_bytes(tone(0.4, 16000))
        await ws.send_str(json.dumps({"type": "Finalize"}))
        await ws.send_str(json.dumps({"type": "CloseStream"}))
        messages = await read_until_close(ws)
    final = next(m for m in messages if m["type"] == "Results" and m["is_final"])
    assert final["from_finalize"] is True
    assert final["channel"]["alternatives"][0]["transcript"] == "hello"


MULTI = "/v1/text-to-speech/voice1/multi-stream-input?model_id=eleven_flash_v2_5&output_format=pcm_16000&auto_mode=true"


async def test_elevenlabs_multi_context_audio_alignment_and_final(elevenlabs_fake: ElevenLabsFake) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(elevenlabs_fake.ws_url + MULTI, headers={"xi-api-key": elevenlabs_fake.api_key})
        await ws.send_str(json.dumps({"text": " ", "context_id": "c1", "voice_settings": {"speed": 1.0}}))
        await ws.send_str(json.dumps({"text": "Hi there. ", "context_id": "c1"}))
        await ws.send_str(json.dumps({"context_id": "c1", "flush": True}))
        await ws.send_str(json.dumps({"context_id": "c1", "close_context": True}))
        await ws.send_str(json.dumps({"close_socket": True}))
        messages = await read_until_close(ws)
    audio = [m for m in messages if m.get("audio")]
    assert all(m["contextId"] == "c1" for m in messages)
    assert messages[-1] == {"isFinal": True, "contextId": "c1"}
    chars = [c for m in audio for c in m["alignment"]["chars"]]
    assert "".join(chars) == "Hi there."  # a trailing space is not spoken
    first = audio[0]["alignment"]
    assert first["charStartTimesMs"][0] == 0 and len(first["charDurationsMs"]) == len(first["chars"])
    pcm = b"".join(base64.b64decode(m["audio"]) for m in audio)
    assert len(pcm) == pytest.approx(len("Hi there.") * 0.040 * 16000 * 2, rel=0.01)


async def test_elevenlabs_rejects_voice_settings_after_a_contexts_first_message(
    elevenlabs_fake: ElevenLabsFake,
) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(elevenlabs_fake.ws_url + MULTI, headers={"xi-api-key": elevenlabs_fake.api_key})
        await ws.send_str(json.dumps({"text": "", "context_id": "c1"}))  # a keep-alive opens no context
        await ws.send_str(json.dumps({"text": "Hello ", "context_id": "c1"}))
        await ws.send_str(json.dumps({"text": " ", "context_id": "c1", "voice_settings": {"speed": 1.0}}))
        await read_until_close(ws)
        assert ws.close_code == 1008


async def test_elevenlabs_bad_key_and_inactivity_close_with_1008() -> None:
    async with ElevenLabsFake() as fake, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(fake.ws_url + MULTI, headers={"xi-api-key": "wrong"})
        messages = await read_until_close(ws)
        assert ws.close_code == 1008
        assert messages[0]["error"] == "invalid_api_key"
        ws = await http.ws_connect(
            fake.ws_url + MULTI + "&inactivity_timeout=0.2", headers={"xi-api-key": fake.api_key}
        )
        await read_until_close(ws)
        assert ws.close_code == 1008
        assert fake.sessions[-1].close_code == 1008


async def test_elevenlabs_single_context_stream_input_ends_on_empty_text(elevenlabs_fake: ElevenLabsFake) -> None:
    url = (
        elevenlabs_fake.ws_url
        + "/v1/text-to-speech/voice1/stream-input?model_id=eleven_flash_v2_5&output_format=ulaw_8000"
    )
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url)
        await ws.send_str(json.dumps({"text": " ", "xi-api-key": elevenlabs_fake.api_key}))
        await ws.send_str(json.dumps({"text": "Okay. "}))
        await ws.send_str(json.dumps({"text": ""}))
        messages = await read_until_close(ws)
    assert messages[-1] == {"isFinal": True}
    audio = base64.b64decode(messages[0]["audio"])
    assert len(audio) == round(len("Okay.") * 0.040 * 8000)  # μ-law: one byte per sample
