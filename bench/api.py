"""Dashboard page times with a large call history: every /app page, server time, p50 and p95.

    .venv/bin/python bench/api.py [--calls 100000] [--requests 40] [--database-url URL]

Seeds one organization with 5 agents (published), ``--calls`` calls spread over the last 90 days
(bulk inserted: statuses, directions, end reasons, durations and per-turn latency like real ones),
a transcript for the newest call, API keys, credentials and an audit trail; then logs in through the
log-in page and requests each dashboard page ``--requests`` times (after two warm-up requests) with
the session cookie, in process (httpx's ASGI transport: no network, so the time is the server's:
routing, session check, queries, template). The target is p95 < 300 ms for every page.

SQLite in a temporary folder by default; ``--postgresql`` makes a scratch database on the test
PostgreSQL server (``BVRAI_TEST_PG_URL``) and drops it after; ``--database-url postgresql+asyncpg://...``
runs against an empty database of your own (its tables are created, then dropped at the end). Results go to
``bench/results/api.json`` (``--out``) and a table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for ``tests.*``

import httpx  # noqa: E402
import structlog  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from ulid import ULID  # noqa: E402

from bvrai.app import create_app  # noqa: E402
from bvrai.calls.models import Call, CallMessage  # noqa: E402
from bvrai.kit.ids import new_id  # noqa: E402
from bvrai.models import Base  # noqa: E402

TARGET_P95_MS = 300.0
BATCH = 5000
STATUSES = ["completed"] * 86 + ["failed"] * 6 + ["no-answer"] * 4 + ["busy"] * 4
END_REASONS = ["caller-hangup", "agent-hangup", "end-call-phrase", "silence-timeout", "max-duration", "transferred"]


def _call_row(org_id: str, agent: str, when: datetime, rng: random.Random) -> dict[str, Any]:
    status = rng.choice(STATUSES)
    ended = status in ("completed", "failed")
    duration = round(rng.uniform(15, 420), 1) if ended else None
    turns = []
    for _ in range(rng.randint(1, 6)):
        stt = rng.randint(200, 500)
        llm = stt + rng.randint(250, 900)
        tts = llm + rng.randint(60, 250)
        turns.append(
            {
                "transcript_ms": stt,
                "llm_first_token_ms": llm,
                "tts_first_audio_ms": tts,
                "bot_started_ms": tts + rng.randint(20, 80),
            }
        )
    v2v = sorted(t["bot_started_ms"] for t in turns)
    latency = {"turns": turns, "p50_ms": v2v[len(v2v) // 2], "p90_ms": v2v[-1]} if ended else {}
    return {
        "id": f"call_{str(ULID.from_datetime(when)).lower()}",  # time-sortable, like new_id
        "org_id": org_id,
        "agent_id": agent,
        "agent_version": 1,
        "direction": rng.choice(("web", "inbound", "outbound")),
        "status": status,
        "variables": {},
        "started_at": when,
        "ended_at": when + timedelta(seconds=duration) if duration else None,
        "duration_s": duration,
        "end_reason": rng.choice(END_REASONS if status == "completed" else ["error"]) if ended else None,
        "latency": latency,
        "created_at": when,
        "updated_at": when,
    }


async def seed_calls(url: str, org_id: str, agents: list[str], count: int) -> tuple[float, str]:
    """Bulk insert ``count`` calls over the last 90 days; returns the seconds taken and the newest call id."""
    engine = create_async_engine(url)
    rng = random.Random(7)  # noqa: S311 - synthetic data, not secrets
    now = datetime.now(UTC)
    started = time.perf_counter()
    newest = ""
    async with engine.begin() as conn:
        for first in range(0, count, BATCH):
            rows = []
            for i in range(first, min(first + BATCH, count)):
                when = now - timedelta(seconds=90 * 86400 * (count - i) / count)
                rows.append(_call_row(org_id, agents[i % len(agents)], when, rng))
            await conn.execute(insert(Call.__table__), rows)
            newest = rows[-1]["id"]
        lines = [
            ("assistant", "Hello, how can I help?"),
            ("user", "What time do you open?"),
            ("assistant", "At 11 am."),
        ]
        await conn.execute(
            insert(CallMessage.__table__),
            [
                {
                    "id": new_id("msg"),
                    "call_id": newest,
                    "org_id": org_id,
                    "seq": n,
                    "role": role,
                    "content": text,
                    "offset_ms": n * 2000,
                    "interrupted": False,
                    "data": {},
                    "created_at": now,
                }
                for n, (role, text) in enumerate(lines, start=1)
            ],
        )
    async with engine.connect() as conn:
        # What autovacuum (PostgreSQL) or `PRAGMA optimize` would do on a live database: fresh statistics.
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    await engine.dispose()
    return time.perf_counter() - started, newest


async def create_schema(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()


async def drop_schema(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await engine.dispose()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    tmp = Path(tempfile.mkdtemp(prefix="bvrai-bench-api-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    await create_schema(url)
    settings = make_settings(url, tmp, rate_limit_api="1000000/minute", rate_limit_org="1000000/minute")
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with LifespanManager(app), httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            r = await http.post(
                "/v1/auth/signup",
                json={
                    "email": "bench@example.com",
                    "password": "bench password 1",
                    "name": "Bench",
                    "organization_name": "Bench",
                },
            )
            body = r.json()
            api = {"Authorization": f"Bearer {body['access_token']}"}
            org_id = body["organization"]["id"]
            agents = []
            for n in range(5):
                spec = {"name": f"Agent {n}", "system_prompt": "Answer briefly.", "first_message": "Hello!"}
                agent = (await http.post("/v1/agents", headers=api, json=spec)).json()
                await http.post(f"/v1/agents/{agent['id']}/publish", headers=api)
                agents.append(agent["id"])
            for n in range(5):
                await http.post("/v1/api-keys", headers=api, json={"name": f"key {n}"})
                await http.post(
                    "/v1/credentials",
                    headers=api,
                    json={"provider": "openai", "name": f"cred {n}", "secret": f"sk-bench-{n:010d}"},
                )
            kb = (await http.post("/v1/knowledge-bases", headers=api, json={"name": "Menu and policies"})).json()
            for n in range(20):
                text = f"Policy {n}. Opening hours are 9 to 5. Table {n} seats four. " * 20
                r = await http.post(
                    f"/v1/knowledge-bases/{kb['id']}/documents",
                    headers=api,
                    files={"file": (f"policy-{n}.txt", text.encode(), "text/plain")},
                )
                assert r.status_code == 202, r.text
            hook = (await http.post("/v1/webhooks", headers=api, json={"url": "https://hooks.bench.invalid/in"})).json()
            for _ in range(15):  # each a delivery with its failed attempts (the host does not resolve)
                r = await http.post(f"/v1/webhooks/{hook['id']}/test", headers=api)
                assert r.status_code == 202, r.text
            print(f"seeding {args.calls:,} calls ...", flush=True)
            seed_s, newest = await seed_calls(url, org_id, agents, args.calls)
            print(f"seeded in {seed_s:.1f} s", flush=True)

            page = await http.get("/app/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            r = await http.post(
                "/app/login", data={"csrf_token": csrf, "email": "bench@example.com", "password": "bench password 1"}
            )
            assert r.status_code == 303, r.text
            day = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
            pages = {
                "overview (30 days)": "/app",
                "overview (90 days)": "/app?days=90",
                "agents": "/app/agents",
                "agent editor": f"/app/agents/{agents[0]}",
                "agent versions": f"/app/agents/{agents[0]}/versions",
                "agent diff": f"/app/agents/{agents[0]}/diff?a=1&b=draft",
                "talk": f"/app/agents/{agents[0]}/talk",
                "calls": "/app/calls",
                "calls: next page": None,
                "calls by agent": f"/app/calls?agent_id={agents[3]}",
                "calls failed": "/app/calls?status=failed",
                "calls by end reason": "/app/calls?end_reason=transferred",
                "calls inbound on a day": f"/app/calls?direction=inbound&date_from={day}&date_to={day}",
                "call detail": f"/app/calls/{newest}",
                "api keys": "/app/api-keys",
                "team": "/app/team",
                "credentials": "/app/credentials",
                "audit log": "/app/audit",
                "new agent": "/app/agents/new",
                "knowledge bases": "/app/knowledge",
                "knowledge base (20 documents)": f"/app/knowledge/{kb['id']}",
                "webhooks": "/app/webhooks",
                "webhook (15 deliveries)": f"/app/webhooks/{hook['id']}",
            }
            first = await http.get("/app/calls")
            cursor = re.search(r"cursor=([A-Za-z0-9_-]+)", first.text)
            pages["calls: next page"] = f"/app/calls?cursor={cursor.group(1)}" if cursor else "/app/calls"
            results = []
            for name, path in pages.items():
                assert path is not None
                for _ in range(2):
                    warm = await http.get(path)
                    assert warm.status_code == 200, (path, warm.status_code, warm.text[:300])
                times = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    resp = await http.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert resp.status_code == 200
                results.append(
                    {
                        "page": name,
                        "path": re.sub(r"(agt|call|kb|wh)_[0-9a-z]+", r"{\1_id}", path),
                        "p50_ms": round(statistics.median(times), 1),
                        "p95_ms": round(pct(times, 0.95), 1),
                        "max_ms": round(max(times), 1),
                        "bytes": len(resp.content),
                    }
                )
    finally:
        if args.database_url:
            await drop_schema(url)
    return {
        "benchmark": "dashboard pages, server time",
        "backend": url.split("+")[0].split(":")[0],
        "calls": args.calls,
        "requests_per_page": args.requests,
        "seed_seconds": round(seed_s, 1),
        "target_p95_ms": TARGET_P95_MS,
        "all_under_target": all(r["p95_ms"] < TARGET_P95_MS for r in results),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pages": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    parser.add_argument(
        "--postgresql", action="store_true", help="a scratch database on BVRAI_TEST_PG_URL's server, dropped after"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "api.json")
    args = parser.parse_args()
    if args.postgresql:
        from tests.pg import scratch_database

        with scratch_database("bvrai_bench_api") as url:
            args.database_url = url
            report = asyncio.run(run(args))
    else:
        report = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{report['backend']}, {report['calls']:,} calls, {report['requests_per_page']} requests per page")
    print(f"{'page':<26}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}  path")
    for r in report["pages"]:
        flag = "" if r["p95_ms"] < TARGET_P95_MS else "  OVER TARGET"
        print(f"{r['page']:<26}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['max_ms']:>9.1f}  {r['path']}{flag}")
    print(f"\nevery page p95 < {TARGET_P95_MS:.0f} ms: {report['all_under_target']}  -> {args.out}")


if __name__ == "__main__":
    main()
