"""What a running process shares: settings, the database, the rate limiter and the key ring.

Built once at start-up (``AppContext.create``), kept on ``app.state.ctx``, and handed to request
handlers through the dependencies below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bvrai.config import Settings
from bvrai.kit.crypto import KeyRing
from bvrai.kit.db import make_engine, make_sessionmaker
from bvrai.kit.ratelimit import RateLimiter
from bvrai.kit.storage import LocalStorage


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    limiter: RateLimiter
    keyring: KeyRing
    storage: LocalStorage

    @property
    def secret_key(self) -> str:
        assert self.settings.secret_key is not None
        return self.settings.secret_key

    @classmethod
    def create(cls, settings: Settings) -> AppContext:
        settings.require_secrets()
        assert settings.encryption_keys is not None
        # A media process runs many calls, each writing as it goes: its pool must cover them.
        pool = (
            {}
            if settings.db_url.startswith("sqlite")
            else {
                "pool_size": settings.database_pool_size,
                "max_overflow": settings.database_max_overflow,
            }
        )
        engine = make_engine(settings.db_url, **pool)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            limiter=RateLimiter(settings.redis_url),
            keyring=KeyRing.parse(settings.encryption_keys),
            storage=LocalStorage(settings.storage_path),
        )

    async def close(self) -> None:
        await self.engine.dispose()


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent."""
    async with get_ctx(request).sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


Ctx = Annotated[AppContext, Depends(get_ctx)]
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
