"""The ``bvrai`` command as a user meets it: the real ``serve`` process, and the admin commands."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from bvrai.app import create_app
from bvrai.cli import app as cli
from bvrai.config import Settings
from bvrai.setup import migrate
from tests.pg import scratch_database

BVRAI = Path(sys.executable).with_name("bvrai")  # the installed console script, as a user runs it
START_TIMEOUT_S = 90  # migrations, seeding and imports on a loaded 2-core CI machine
TEST_KEYS = "k1:" + base64.urlsafe_b64encode(b"\x02" * 32).decode()


def clean_env(**values: str) -> dict[str, str]:
    """The caller's environment without any BVRAI_ setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BVRAI_")}
    env.update(values, PYTHONUNBUFFERED="1")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Running:
    url: str
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text()


@contextmanager
def serve(tmp_path: Path, data_dir: Path, name: str) -> Iterator[Running]:
    port = free_port()
    running = Running(f"http://127.0.0.1:{port}", tmp_path / f"{name}.out", tmp_path / f"{name}.err")
    with running.stdout.open("w") as out, running.stderr.open("w") as err:
        proc = subprocess.Popen(  # noqa: S603 - our own console script
            [str(BVRAI), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=clean_env(BVRAI_DATA_DIR=str(data_dir)),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        try:
            _wait_healthy(proc, running)
            yield running
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(proc: subprocess.Popen[bytes], running: Running) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"bvrai serve exited {proc.returncode}:\n{running.output()}\n{running.stderr.read_text()}")
        try:
            if httpx.get(f"{running.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"/healthz not 200 within {START_TIMEOUT_S} s:\n{running.output()}\n{running.stderr.read_text()}")


def printed_login(output: str) -> dict[str, str]:
    found = {
        key: re.search(rf"^\s*{label}\s+(\S.*?)\s*$", output, re.MULTILINE)
        for key, label in (("email", "Email"), ("password", "Password"), ("organization", "Organization"))
    }
    missing = [k for k, m in found.items() if m is None]
    assert not missing, f"no {missing} in the output:\n{output}"
    return {k: m.group(1) for k, m in found.items() if m is not None}


def log_in_and_list_agents(url: str, login: dict[str, str]) -> list[dict[str, object]]:
    r = httpx.post(f"{url}/v1/auth/login", json={"email": login["email"], "password": login["password"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["organization"]["name"] == login["organization"]
    token = r.json()["access_token"]
    r = httpx.get(f"{url}/v1/agents", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    agents: list[dict[str, object]] = r.json()["data"]
    return agents


def test_serve_seeds_a_working_demo_login_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    with serve(tmp_path, data_dir, "first") as first:
        output = first.output()
        login = printed_login(output)
        assert "created now" in output
        assert f"{first.url}/docs" in output
        agents = log_in_and_list_agents(first.url, login)
        assert len(agents) == 1
        assert agents[0]["published_version"] == 1

    for secret_file in ("secrets.json", "demo.json"):
        assert stat.S_IMODE((data_dir / secret_file).stat().st_mode) == 0o600, secret_file
    assert (data_dir / ".gitignore").read_text().endswith("*\n")  # never committed from a checkout

    with serve(tmp_path, data_dir, "second") as second:
        output = second.output()
        assert printed_login(output) == login
        assert "created on first start" in output
        agents_again = log_in_and_list_agents(second.url, login)
        assert [a["id"] for a in agents_again] == [agents[0]["id"]]


def test_production_without_secrets_names_them_and_exits(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - our own console script
        [str(BVRAI), "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=clean_env(BVRAI_ENV="production", BVRAI_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result
    assert "BVRAI_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "data" / "secrets.json").exists()


# --- admin commands, in-process through Typer's runner, on both databases ---


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bvrai.db'}"
        return
    with scratch_database("bvrai_cli") as url:
        yield url


@pytest.fixture
def runner(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for key in [k for k in os.environ if k.startswith("BVRAI_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("BVRAI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BVRAI_DATABASE_URL", database_url)
    monkeypatch.setenv("BVRAI_SECRET_KEY", "cli-test-secret-key-with-enough-entropy-0123")
    monkeypatch.setenv("BVRAI_ENCRYPTION_KEYS", TEST_KEYS)
    return CliRunner()


def invoke(runner: CliRunner, *args: str, input: str | None = None, code: int = 0) -> str:
    result = runner.invoke(cli, list(args), input=input)
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result.output


def create_user(runner: CliRunner, email: str, password: str | None, *, code: int = 0, input: str | None = None) -> str:
    args = ["admin", "create-user", "--email", email, "--name", "Ops", "--org-name", "Ops Inc"]
    if password is not None:
        args += ["--password", password]
    return invoke(runner, *args, input=input, code=code)


def log_in(email: str, password: str, *, add_credential: bool = False) -> int:
    """Log in through the app (in-process); with ``add_credential``, also store a provider secret."""

    async def go() -> int:
        application = create_app(Settings(env="test", seed_demo=False))
        transport = httpx.ASGITransport(app=application)
        async with (
            LifespanManager(application),
            httpx.AsyncClient(transport=transport, base_url="http://cli-test") as client,
        ):
            r = await client.post("/v1/auth/login", json={"email": email, "password": password})
            if r.status_code == 200 and add_credential:
                headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                body = {"provider": "openai", "name": "main", "secret": "sk-test-0123456789abcdef"}
                assert (await client.post("/v1/credentials", json=body, headers=headers)).status_code == 201
            return r.status_code

    return asyncio.run(go())


def sql(url: str, statement: str) -> list[tuple[object, ...]]:
    async def go() -> list[tuple[object, ...]]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_admin_create_user_then_login(runner: CliRunner, database_url: str) -> None:
    assert "bvrai db upgrade" in create_user(runner, "a@example.com", "long enough password", code=1)

    assert f"→ {migrate.heads()[0]}" in invoke(runner, "db", "upgrade")
    assert "up to date" in invoke(runner, "db", "current")

    # No --password: prompted for, hidden, and confirmed.
    output = create_user(runner, "Ops@Example.com", None, input="a long password\na long password\n")
    org_id = re.search(r"\((org_\w+)\)", output)
    assert org_id, output
    assert log_in("ops@example.com", "a long password") == 200
    assert log_in("ops@example.com", "wrong password") == 401

    assert "already exists" in create_user(runner, "ops@example.com", "another long password", code=1)
    assert "at least 10 characters" in create_user(runner, "b@example.com", "short", code=1)

    assert "Valid: 1 entries" in invoke(runner, "admin", "verify-audit", "--org-id", org_id.group(1))
    sql(database_url, "UPDATE audit_logs SET action = 'tampered'")
    broken = invoke(runner, "admin", "verify-audit", "--org-id", org_id.group(1), code=1)
    assert "does not match its hash" in broken


def test_reencrypt_moves_credentials_to_the_newest_key(
    runner: CliRunner, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke(runner, "db", "upgrade")
    create_user(runner, "keys@example.com", "a long password")
    assert log_in("keys@example.com", "a long password", add_credential=True) == 200

    monkeypatch.setenv("BVRAI_ENCRYPTION_KEYS", f"{TEST_KEYS},k2:" + base64.urlsafe_b64encode(b"\x03" * 32).decode())
    assert "Re-encrypted 1 credential(s) under key k2" in invoke(runner, "admin", "reencrypt-credentials")
    assert "Re-encrypted 0 credential(s)" in invoke(runner, "admin", "reencrypt-credentials")
    assert [row[0].split(":")[0] for row in sql(database_url, "SELECT ciphertext FROM credentials")] == ["k2"]

    monkeypatch.setenv("BVRAI_ENCRYPTION_KEYS", "k1")
    assert "BVRAI_ENCRYPTION_KEYS" in invoke(runner, "admin", "reencrypt-credentials", code=2)


def test_api_refuses_an_unmigrated_database(runner: CliRunner) -> None:
    output = invoke(runner, "api", "--port", str(free_port()), code=1)
    assert "no BVRAI schema" in output
    assert "--migrate" in output


def test_version() -> None:
    assert re.fullmatch(r"bvrai \d+\.\d+\.\d+\s*", CliRunner().invoke(cli, ["version"]).output)
