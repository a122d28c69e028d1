"""``bvrai worker`` as a real process for tests: same database and settings as the test's app."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bvrai.config import Settings
from bvrai.setup import migrate


async def stamp_head(url: str) -> None:
    """Test schemas come from ``create_all``: record the head revision so a worker accepts them."""
    head = migrate.heads()[0]
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        await conn.execute(text("DELETE FROM alembic_version"))
        await conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head})
    await engine.dispose()


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BVRAI_")}
    values: dict[str, object] = {
        "ENV": settings.env,
        "DATABASE_URL": settings.db_url,
        "DATA_DIR": settings.data_dir,
        "SECRET_KEY": settings.secret_key,
        "ENCRYPTION_KEYS": settings.encryption_keys,
        "JOB_POLL_S": settings.job_poll_s,
        "JOB_LEASE_S": settings.job_lease_s,
        "JOB_QUEUE": settings.job_queue,
        "SSRF_ALLOW": settings.ssrf_allow,
        "PUBLIC_BASE_URL": settings.public_base_url,
        "WEB_CALL_CONNECT_TIMEOUT_S": settings.web_call_connect_timeout_s,
        "CAMPAIGN_TICK_S": settings.campaign_tick_s,
        "CAMPAIGN_DIAL_LEASE_S": settings.campaign_dial_lease_s,
        "MAX_CONCURRENT_CALLS": settings.max_concurrent_calls,
        "MODEL_CACHE_DIR": settings.model_cache_path,
        "PROVIDER_BASE_URLS": json.dumps(settings.provider_base_urls),
    }
    if settings.redis_url:
        values["REDIS_URL"] = settings.redis_url
    env.update({f"BVRAI_{k}": str(v) for k, v in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def worker(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A running worker; stopped with SIGTERM at the end unless the test killed it."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bvrai.cli", "worker"],
            env=worker_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
