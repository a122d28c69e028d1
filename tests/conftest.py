"""Shared fixtures: every app-level test runs once on SQLite and once on PostgreSQL.

PostgreSQL gets one database per xdist worker, created at session start; tables are emptied
between tests. SQLite gets a fresh file per test.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bvrai.app import create_app
from bvrai.config import Settings
from bvrai.models import Base
from tests.pg import scratch_database

TEST_KEYS = "k1:" + base64.urlsafe_b64encode(b"\x01" * 32).decode()
MODEL_CACHE = Path(__file__).resolve().parents[1] / ".bvrai" / "models"
BACKENDS = os.environ.get("BVRAI_TEST_BACKENDS", "sqlite,postgresql").split(",")


@pytest.fixture(scope="session")
def pg_database(worker_id: str) -> Iterator[str]:
    """A PostgreSQL database of this pytest process and worker's own, with the schema, dropped at the end."""

    async def create_schema(url: str) -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await engine.dispose()

    with scratch_database(f"bvrai_test_{worker_id}") as url:
        asyncio.run(create_schema(url))
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("pg_database")
    return url


async def prepare_schema(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        if url.startswith("sqlite"):
            await conn.run_sync(Base.metadata.create_all)
        else:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        "secret_key": "test-secret-key-with-enough-entropy-0123456789",
        "encryption_keys": TEST_KEYS,
        "seed_demo": False,
        # One assembled copy of the local LLM for the whole run, not one per test's data folder.
        "model_cache_dir": MODEL_CACHE,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    await prepare_schema(settings.db_url)
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Account:
    """A signed-up user acting in their own new organization."""

    email: str
    password: str
    access_token: str
    refresh_token: str
    org_id: str
    user_id: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


_counter = iter(range(10**9))


@pytest.fixture
def signup(client: httpx.AsyncClient) -> Any:
    async def _signup(
        org_name: str = "Acme", email: str | None = None, password: str = "correct horse battery"
    ) -> Account:
        email = email or f"user{next(_counter)}@example.com"
        r = await client.post(
            "/v1/auth/signup",
            json={
                "email": email,
                "password": password,
                "name": "Test User",
                "organization_name": org_name,
            },
        )
        assert r.status_code == 201, r.text
        body = r.json()
        return Account(
            email=email,
            password=password,
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            org_id=body["organization"]["id"],
            user_id=body["user"]["id"],
        )

    return _signup


@pytest.fixture
async def owner(signup: Any) -> Account:
    account: Account = await signup("Acme")
    return account
