"""Fixtures for whole calls: a live server with the local models, and a signed-up client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from bvrai.app import create_app
from bvrai.voice.simulator import FRAME_MS
from bvrai.voice.web_serializer import WEB_SAMPLE_RATE
from tests.conftest import make_settings, prepare_schema
from tests.fakes.fixtures import anthropic_fake, deepgram_fake, elevenlabs_fake, openai_fake  # noqa: F401
from tests.live import LiveServer, serve

RECEPTIONIST = {
    "name": "Receptionist",
    "system_prompt": (
        "You are the receptionist of Bella Pizza. Answer in one short sentence. "
        "We are open from 11 am to 10 pm every day."
    ),
    "first_message": "Hello, Bella Pizza, how can I help?",
}


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    asyncio.run(prepare_schema(database_url))
    with serve(create_app(make_settings(database_url, tmp_path))) as server:
        yield server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.base_url, timeout=60) as client:
        r = await client.post(
            "/v1/auth/signup",
            json={"email": "caller@example.com", "password": "long password 1", "name": "C", "organization_name": "O"},
        )
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield client


async def publish(http: httpx.AsyncClient, spec: dict) -> str:
    agent = (await http.post("/v1/agents", json=spec)).json()
    assert "id" in agent, agent
    assert (await http.post(f"/v1/agents/{agent['id']}/publish")).status_code == 201
    return str(agent["id"])


@pytest.fixture
async def cloud(
    database_url: str,
    tmp_path: Path,
    deepgram_fake,  # noqa: F811
    openai_fake,  # noqa: F811
    anthropic_fake,  # noqa: F811
    elevenlabs_fake,  # noqa: F811
) -> AsyncIterator[httpx.AsyncClient]:
    """A live server whose cloud providers are the fakes, and a signed-up client with their keys in its vault."""
    await prepare_schema(database_url)
    urls = {
        "deepgram": deepgram_fake.url,
        "openai": openai_fake.url + "/v1",
        "anthropic": anthropic_fake.url,
        "elevenlabs": elevenlabs_fake.url,
    }
    with serve(create_app(make_settings(database_url, tmp_path, provider_base_urls=urls))) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            r = await http.post(
                "/v1/auth/signup",
                json={"email": "c@example.com", "password": "long password 1", "name": "C", "organization_name": "O"},
            )
            http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            for fake in (deepgram_fake, openai_fake, anthropic_fake, elevenlabs_fake):
                body = {"provider": fake.name, "name": fake.name, "secret": fake.api_key}
                assert (await http.post("/v1/credentials", json=body)).status_code == 201
            yield http


def speech_onset_s(pcm: bytes, threshold: float = 0.02) -> float:
    """Seconds from the start of ``pcm`` to the first 20 ms frame that is not near-silence."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    step = WEB_SAMPLE_RATE * FRAME_MS // 1000
    for i in range(0, len(samples), step):
        if np.sqrt(np.mean(samples[i : i + step] ** 2)) > threshold:
            return i / WEB_SAMPLE_RATE
    return 0.0
