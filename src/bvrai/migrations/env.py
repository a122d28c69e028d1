"""Alembic environment: async engines, the URL from ``Settings`` unless the caller set one.

``bvrai db upgrade`` and ``bvrai serve`` build the Alembic config in code and set
``sqlalchemy.url``; the ``alembic`` command run from the repository root leaves it empty, so the
same ``BVRAI_DATABASE_URL`` (or the default SQLite file in the data folder) applies to both.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bvrai.config import Settings
from bvrai.kit.db import UTCDateTime
from bvrai.models import Base
from bvrai.setup.migrate import ensure_sqlite_folder

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().db_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import application code that may change later: UTCDateTime only
    # converts values in Python, its column is a plain timezone-aware DATETIME/TIMESTAMP.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(**kwargs: Any) -> None:
    url = kwargs.pop("url", None)
    dialect = kwargs["connection"].dialect.name if "connection" in kwargs else make_url(url).get_backend_name()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=dialect == "sqlite",
        render_item=render_item,
        **kwargs,
    )


def run_offline() -> None:
    configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online(url: str) -> None:
    # No pool and none of the app's SQLite pragmas: foreign_keys=ON would break batch table rebuilds.
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
elif (shared := config.attributes.get("connection")) is not None:
    run_on(shared)
else:
    url = database_url()
    ensure_sqlite_folder(url)
    asyncio.run(run_online(url))
