"""Scratch PostgreSQL databases for the tests, on the server at ``BVRAI_TEST_PG_URL``."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ADMIN_URL = os.environ.get("BVRAI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test").replace(
    "postgresql://", "postgresql+asyncpg://", 1
)


async def _admin(sql: str) -> None:
    engine = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new, empty, uniquely named database: yields its asyncpg URL, and drops it at the end.

    Synchronous (each step in its own ``asyncio.run``), for sync fixtures outside any event loop.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
