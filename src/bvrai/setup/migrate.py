"""Run the packaged Alembic migrations from code (no alembic.ini needed once installed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


def sqlite_file(database_url: str) -> Path | None:
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def ensure_sqlite_folder(database_url: str) -> None:
    """SQLite creates the file but not its folder; a fresh data folder must not fail the upgrade."""
    if (path := sqlite_file(database_url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    # A package resource, so it works from a wheel as well as from a checkout.
    cfg.set_main_option("script_location", "bvrai:migrations")
    cfg.set_main_option("path_separator", "os")
    # The config is an INI parser: a literal % (URL-encoded passwords) must be doubled.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def heads(database_url: str = "sqlite://") -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


def current(database_url: str) -> tuple[str, ...]:
    """The revisions the database is stamped with; empty for a database never migrated."""
    if (path := sqlite_file(database_url)) is not None and not path.exists():
        return ()  # reading must not leave an empty database file behind

    async def read() -> tuple[str, ...]:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads())
        finally:
            await engine.dispose()

    return asyncio.run(read())
