"""The migrations build exactly the schema the models declare, on SQLite and on PostgreSQL.

Each test gets a fresh database (a new SQLite file, or a uniquely named PostgreSQL database that is
dropped afterwards), so they run in parallel under xdist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from bvrai.models import Base
from bvrai.setup import migrate
from tests.pg import scratch_database

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    with scratch_database("bvrai_mig") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        # A folder that does not exist yet, as on a first `bvrai serve`.
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bvrai.db'}"
    url: str = request.getfixturevalue("fresh_pg")
    return url


def _tables(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_one_head_and_one_base() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_repo_alembic_ini_uses_the_packaged_migrations() -> None:
    # `alembic check` in CI reads alembic.ini; `bvrai db upgrade` reads the package: same scripts.
    from_ini = ScriptDirectory.from_config(Config(str(REPO_ROOT / "alembic.ini")))
    assert tuple(from_ini.get_heads()) == migrate.heads()
    assert Path(from_ini.dir).resolve() == Path(ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).dir)


def test_upgrade_matches_models_then_downgrades(fresh_db: str) -> None:
    assert migrate.current(fresh_db) == ()

    migrate.upgrade(fresh_db)
    assert migrate.current(fresh_db) == migrate.heads()
    assert _tables(fresh_db) == set(Base.metadata.tables) | {"alembic_version"}
    # What `alembic check` runs: autogenerate against Base.metadata must find nothing to do.
    command.check(migrate.alembic_config(fresh_db))

    migrate.downgrade(fresh_db, "base")
    assert _tables(fresh_db) <= {"alembic_version"}
    assert migrate.current(fresh_db) == ()


def test_upgrade_is_idempotent(fresh_db: str) -> None:
    migrate.upgrade(fresh_db)
    migrate.upgrade(fresh_db)
    assert migrate.current(fresh_db) == migrate.heads()
