"""Pytest fixtures that run each fake for one test, on a free 127.0.0.1 port, in the test's event loop.

Opt in from a conftest with ``from tests.fakes.fixtures import *  # noqa: F403``. Each fixture yields
the started fake; its ``url`` (``http://127.0.0.1:<port>``) is what an adapter takes as base URL
(with ``/v1`` appended for OpenAI-compatible clients: see ``openai_base_url``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.anthropic import AnthropicFake
from tests.fakes.deepgram import DeepgramFake
from tests.fakes.elevenlabs import ElevenLabsFake
from tests.fakes.openai import OpenAIFake

__all__ = ["anthropic_fake", "deepgram_fake", "elevenlabs_fake", "openai_fake", "openai_fake_backup"]


@pytest.fixture
async def deepgram_fake() -> AsyncIterator[DeepgramFake]:
    async with DeepgramFake() as fake:
        yield fake


@pytest.fixture
async def openai_fake() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake() as fake:
        yield fake


@pytest.fixture
async def openai_fake_backup() -> AsyncIterator[OpenAIFake]:
    """A second, independent OpenAI-compatible server (a fallback provider in tests)."""
    async with OpenAIFake(api_key="sk-backup-key") as fake:
        yield fake


@pytest.fixture
async def anthropic_fake() -> AsyncIterator[AnthropicFake]:
    async with AnthropicFake() as fake:
        yield fake


@pytest.fixture
async def elevenlabs_fake() -> AsyncIterator[ElevenLabsFake]:
    async with ElevenLabsFake() as fake:
        yield fake
