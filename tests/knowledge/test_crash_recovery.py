"""The worker ingesting a document is killed (SIGKILL) half-way; a new worker finishes the work.

Real processes, as in production: ``bvrai api --migrate`` takes the upload (and enqueues the
``knowledge.ingest`` job after its commit), ``bvrai worker`` runs the job. The first worker is killed
mid-document: the document stays ``processing`` with a claim nobody renews. A second worker's
sweeper finds the job whose lease ran out, the document's claim has run out too, and the ingestion
resumes after the last batch written. The document ends ``ready`` with exactly the chunk count of an
uninterrupted run, and every chunk is in the vector store once.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bvrai.knowledge.store.sqlite_vec import SqliteVecStore
from tests.conftest import BACKENDS
from tests.pg import scratch_database

START_TIMEOUT_S = 90
KEYS = "k1:" + base64.urlsafe_b64encode(b"\x03" * 32).decode()


def long_document() -> bytes:
    sections = []
    for s in range(40):
        paragraphs = [
            f"Store {s} paragraph {p}: the branch at number {s * 7 + p} Harbour Street sells tea, "
            f"coffee and {p + 2} kinds of cake; ask for the manager on duty about order {s * 100 + p}."
            for p in range(12)
        ]
        sections.append(f"## Branch {s}\n\n" + "\n\n".join(paragraphs))
    return ("# Branches\n\n" + "\n\n".join(sections)).encode()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bvrai.db'}"
    else:
        with scratch_database("bvrai_kb_crash") as url:
            yield url


def environment(tmp_path: Path, database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BVRAI_")}
    env.update(
        PYTHONUNBUFFERED="1",
        BVRAI_DATA_DIR=str(tmp_path / "data"),
        BVRAI_DATABASE_URL=database,
        BVRAI_SECRET_KEY="crash-test-secret-key-0123456789-abcdefghij",
        BVRAI_ENCRYPTION_KEYS=KEYS,
        BVRAI_SEED_DEMO="false",
        BVRAI_WARM_UP_MODELS="false",
        BVRAI_KNOWLEDGE_LEASE_S="3",
        BVRAI_JOB_LEASE_S="5",
        BVRAI_JOB_POLL_S="0.5",
        BVRAI_RATE_LIMIT_API="100000/minute",
        BVRAI_RATE_LIMIT_ORG="100000/minute",
    )
    return env


@contextmanager
def process(tmp_path: Path, database: str, name: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / f"{name}.log").open("w")
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bvrai.cli", *args],
        cwd=tmp_path,
        env=environment(tmp_path, database),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


@contextmanager
def api(tmp_path: Path, database: str) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with process(tmp_path, database, "api", "api", "--migrate", "--port", str(port)) as proc:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        yield url


def document(http: httpx.Client, kb: str, doc: str) -> dict[str, Any]:
    r = http.get(f"/v1/knowledge-bases/{kb}/documents/{doc}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_ready(http: httpx.Client, kb: str, doc: str, timeout_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (body := document(http, kb, doc))["status"] not in ("ready", "failed"):
        assert time.monotonic() < deadline, body
        time.sleep(0.3)
    return body


def test_a_worker_killed_mid_ingestion_is_replaced_and_the_document_ends_complete(tmp_path: Path, database: str):
    data = long_document()
    with api(tmp_path, database) as url:
        http = httpx.Client(base_url=url, timeout=30)
        r = http.post(
            "/v1/auth/signup",
            json={"email": "o@example.com", "password": "long password 1", "name": "O", "organization_name": "O"},
        )
        org_id = r.json()["organization"]["id"]
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        kb = http.post("/v1/knowledge-bases", json={"name": "Branches"}).json()["id"]
        doc = http.post(
            f"/v1/knowledge-bases/{kb}/documents", files={"file": ("branches.md", data, "text/markdown")}
        ).json()
        assert doc["status"] == "queued"

        with process(tmp_path, database, "worker-1", "worker") as worker:
            deadline = time.monotonic() + 180
            while True:
                body = document(http, kb, doc["id"])
                done, total = body["progress"]["chunks_done"], body["progress"]["chunks_total"]
                if body["status"] == "processing" and 0 < done < total // 2:
                    break
                assert body["status"] in ("queued", "processing") and time.monotonic() < deadline, body
                time.sleep(0.02)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        stalled = document(http, kb, doc["id"])
        assert stalled["status"] == "processing" and stalled["progress"]["chunks_done"] < total, stalled

        with process(tmp_path, database, "worker-2", "worker"):
            resumed = wait_ready(http, kb, doc["id"])
            assert resumed["status"] == "ready", resumed
            assert resumed["attempts"] == 2 and resumed["progress"]["chunks_done"] == resumed["chunk_count"]

            # The same file uploaded again and ingested without interruption.
            again = http.post(
                f"/v1/knowledge-bases/{kb}/documents", files={"file": ("copy.md", data, "text/markdown")}
            ).json()
            uninterrupted = wait_ready(http, kb, again["id"])
        assert uninterrupted["status"] == "ready" and uninterrupted["attempts"] == 1
        assert resumed["chunk_count"] == uninterrupted["chunk_count"] == total

        hits = http.post(f"/v1/knowledge-bases/{kb}/search", json={"query": "order 3905", "mode": "keyword"}).json()
        assert len({h["document_id"] for h in hits["data"][:2]}) == 2  # one passage from each copy, not two of one

    # In the store: every chunk once, text and vector.
    store = SqliteVecStore(tmp_path / "data" / "vectors.sqlite3")
    assert store.count_sync(org_id, doc["id"]) == total
    assert len(store.chunk_ids_sync(org_id, doc["id"])) == total
    probe = [1.0] + [0.0] * 383
    vectors = store.vector_search_sync(org_id, [kb], probe, 4096, 384)
    assert len(vectors) == 2 * total
    assert sum(1 for v in vectors if v.doc_id == doc["id"]) == total
