"""Fixtures for the cloud adapter tests: the fakes (from ``tests.fakes.fixtures``) and quiet logs."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from loguru import logger

from tests.fakes.fixtures import *  # noqa: F403


@pytest.fixture(autouse=True)
def _quiet_pipecat() -> Iterator[None]:
    # pipecat logs every frame decision at DEBUG; warnings are enough, and pytest shows them on failure.
    logger.remove()
    handler = logger.add(sys.stderr, level="WARNING")
    yield
    logger.remove(handler)
    logger.add(sys.stderr)
