"""The worker is killed (SIGKILL) while deliveries are in flight; a new worker delivers every event
at least once: the deliveries' jobs come back when their leases run out."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema
from tests.polling import eventually
from tests.webhooks.receiver import Receiver
from tests.workers import stamp_head, worker

EVENTS = 12


async def test_killing_the_worker_mid_delivery_loses_no_event(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        database_url, tmp_path, ssrf_allow="127.0.0.1", job_poll_s=0.2, job_lease_s=3.0, job_concurrency=4
    )
    await prepare_schema(database_url)
    await stamp_head(database_url)
    application = create_app(settings, role="api")  # enqueues only: the worker process delivers
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as client,
        Receiver(delay_s=0.5) as receiver,
    ):
        signup = {"email": "o@example.com", "password": "correct horse battery", "name": "O", "organization_name": "A"}
        token = (await client.post("/v1/auth/signup", json=signup)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        hook = (await client.post("/v1/webhooks", headers=headers, json={"url": receiver.url})).json()
        receiver.secret = hook["secret"]
        sent = [(await client.post(f"/v1/webhooks/{hook['id']}/test", headers=headers)).json() for _ in range(EVENTS)]
        messages = {d["message_id"] for d in sent}

        with worker(settings, tmp_path / "worker-1.log") as first:

            async def some_arrived() -> bool:
                return len(receiver.requests) >= 2

            await eventually(some_arrived, timeout_s=90, every_s=0.02)
            first.send_signal(signal.SIGKILL)
            first.wait()
        # The receiver answers after 0.5 s, so the killed worker had requests out whose outcome it
        # never wrote down: those deliveries are not "succeeded" and must be finished by the next worker.
        r = await client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=100", headers=headers)
        unfinished = [d for d in r.json()["data"] if d["status"] != "succeeded"]
        assert unfinished, "the first worker finished everything before it was killed"

        with worker(settings, tmp_path / "worker-2.log"):

            async def all_delivered() -> list[dict[str, Any]]:
                r = await client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=100", headers=headers)
                rows = r.json()["data"]
                return rows if all(d["status"] == "succeeded" for d in rows) else []

            rows = await eventually(all_delivered, timeout_s=120, every_s=0.3)
        assert len(rows) == EVENTS
        assert {r.headers["webhook-id"] for r in receiver.requests} == messages  # every event, at least once
        assert all(r.verified for r in receiver.requests)
