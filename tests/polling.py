"""Waiting for something a background process does: poll a check until it holds, or fail."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], *, timeout_s: float = 20.0, every_s: float = 0.05) -> T:
    """The first truthy result of ``check()``; ``TimeoutError`` if none came within ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(every_s)
