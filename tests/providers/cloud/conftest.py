"""Fixtures for the cloud adapter tests: the fakes (from ``tests.fakes.fixtures``) and quiet logs."""

from __future__ import annotations

import sys

import pytest
from loguru import logger

from tests.fakes.fixtures import *  # noqa: F403


@pytest.fixture(autouse=True, scope="session")
def _quiet_pipecat() -> None:
    # As the app does (kit.logging): pipecat logs every frame decision through loguru at DEBUG.
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
