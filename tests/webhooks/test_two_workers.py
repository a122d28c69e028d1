"""With BVRAI_REDIS_URL set, two `bvrai worker` processes share the deliveries: every event arrives
exactly once. Scale-out runs on PostgreSQL (SQLite is the one-process embedded default), so this
test runs there only."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema
from tests.polling import eventually
from tests.webhooks.receiver import Receiver
from tests.workers import stamp_head, worker

EVENTS = 30


async def test_two_workers_on_redis_share_deliveries_without_duplicates(pg_database: str, tmp_path: Path) -> None:
    database_url = pg_database
    settings = make_settings(
        database_url,
        tmp_path,
        ssrf_allow="127.0.0.1",
        job_poll_s=0.5,
        redis_url="redis://127.0.0.1:6379/0",
        job_queue=f"bvrai-test:{uuid.uuid4().hex}",
    )
    await prepare_schema(database_url)
    await stamp_head(database_url)
    application = create_app(settings, role="api")
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as client,
        Receiver(delay_s=0.2) as receiver,
    ):
        signup = {"email": "o@example.com", "password": "correct horse battery", "name": "O", "organization_name": "A"}
        token = (await client.post("/v1/auth/signup", json=signup)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        hook = (await client.post("/v1/webhooks", headers=headers, json={"url": receiver.url})).json()
        receiver.secret = hook["secret"]
        with worker(settings, tmp_path / "w1.log"), worker(settings, tmp_path / "w2.log"):

            async def delivered() -> list[dict[str, Any]]:
                r = await client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=100", headers=headers)
                rows = r.json()["data"]
                return rows if len(rows) == EVENTS and all(d["status"] == "succeeded" for d in rows) else []

            sent = [
                (await client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers)).json() for _ in range(EVENTS)
            ]
            await eventually(delivered, timeout_s=120, every_s=0.3)
        per_message = Counter(r.headers["webhook-id"] for r in receiver.requests)
        assert set(per_message) == {d["message_id"] for d in sent}
        assert set(per_message.values()) == {1}, "an event was delivered twice"
        assert all(r.verified for r in receiver.requests)
