"""structlog set-up: JSON lines in production, readable lines in development; request ids bound."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    _quiet_pipecat()


def _quiet_pipecat() -> None:
    """pipecat logs through loguru at DEBUG by default, whole conversations included (personal
    data): keep only its warnings."""
    try:
        from loguru import logger
    except ImportError:
        return
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
