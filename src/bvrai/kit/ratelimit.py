"""Rate limiting on the ``limits`` library: moving windows, memory storage or Redis when configured."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from bvrai.kit.errors import RateLimited


class RateLimiter:
    def __init__(self, redis_url: str | None = None) -> None:
        self.storage: Storage
        if redis_url:
            uri = "async+" + redis_url if redis_url.startswith(("redis://", "rediss://")) else redis_url
            self.storage = RedisStorage(uri, implementation="redispy", key_prefix="bvrai-limits")
        else:
            self.storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, limit: str | RateLimitItem, *keys: str) -> None:
        """Count one hit; raise a 429 problem with Retry-After when the window is full."""
        item = parse(limit) if isinstance(limit, str) else limit
        if await self._limiter.hit(item, *keys):
            return
        reset_at, _remaining = await self._limiter.get_window_stats(item, *keys)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"rate limit of {item} exceeded; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )

    async def test(self, limit: str, *keys: str) -> bool:
        return await self._limiter.test(parse(limit), *keys)

    async def clear(self, limit: str, *keys: str) -> None:
        await self._limiter.clear(parse(limit), *keys)
