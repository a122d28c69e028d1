"""`bvrai worker` as a process: it runs what API-only servers enqueue, and cancels browser calls
that nobody connected to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema
from tests.live import serve
from tests.workers import stamp_head, worker


async def test_a_worker_cancels_a_browser_call_nobody_connected_to(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, job_poll_s=0.2, web_call_connect_timeout_s=1.0)
    await prepare_schema(database_url)
    await stamp_head(database_url)
    with serve(create_app(settings, role="api")) as live:
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            signup = {"email": "w@example.com", "password": "correct horse battery", "name": "W"}
            r = await http.post("/v1/auth/signup", json={**signup, "organization_name": "Acme"})
            http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            agent = (await http.post("/v1/agents", json={"name": "A", "system_prompt": "Hi"})).json()
            await http.post(f"/v1/agents/{agent['id']}/publish")
            call = (await http.post("/v1/web-calls", json={"agent_id": agent["id"]})).json()["call"]
            await asyncio.sleep(1.2)
            assert (await http.get(f"/v1/calls/{call['id']}")).json()["status"] == "queued"  # no worker yet

            with worker(settings, tmp_path / "worker.log") as proc:
                async with asyncio.timeout(90):  # the process imports the whole platform first
                    while (body := (await http.get(f"/v1/calls/{call['id']}")).json())["status"] == "queued":
                        assert proc.poll() is None, (tmp_path / "worker.log").read_text()
                        await asyncio.sleep(0.2)
            assert body["status"] == "canceled" and body["end_reason"] == "never-connected"
            assert proc.returncode == 0, (tmp_path / "worker.log").read_text()
