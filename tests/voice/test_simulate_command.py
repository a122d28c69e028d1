"""`bvrai call simulate` holds a call from the terminal and prints its transcript and latency."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.voice.test_call_behaviour import agent


async def test_the_simulate_command_prints_the_conversation(cloud, deepgram_fake, openai_fake):
    deepgram_fake.say("What time do you open?")
    openai_fake.script("We open at eleven.")
    agent_id = await agent(cloud)
    token = cloud.headers["Authorization"].removeprefix("Bearer ")
    env = {**os.environ, "BVRAI_API_KEY": token, "COLUMNS": "200"}

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bvrai.cli", "call", "simulate",
        "--url", str(cloud.base_url), "--agent", agent_id, "--say", "What time do you open?",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    printed = out.decode()

    assert process.returncode == 0, err.decode()[-2000:]
    assert "Hello, Bella Pizza." in printed
    assert "What time do you open?" in printed
    assert "We open at eleven." in printed
    assert "voice-to-voice p50" in printed


async def test_a_bad_key_is_a_clear_error_not_a_traceback(cloud):
    env = {**os.environ, "BVRAI_API_KEY": "bvr_sk_not_a_key"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bvrai.cli", "call", "simulate", "--url", str(cloud.base_url), "--say", "hi",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in err.decode() + out.decode()
    assert "401" in err.decode() or "invalid" in err.decode().lower()
