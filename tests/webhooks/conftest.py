from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bvrai.calls import lifecycle
from bvrai.config import Settings
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Receivers live on 127.0.0.1, which the server allow-lists here; retries come 1000 times sooner."""
    return make_settings(database_url, tmp_path, ssrf_allow="127.0.0.1", webhook_retry_scale=0.001, job_poll_s=0.1)


async def published_agent(client: Any, headers: dict[str, str], **spec: Any) -> str:
    # No post-call analysis unless asked: these calls need no LLM.
    body = {"name": "Support", "system_prompt": "You help callers.", "analysis": {"summary": False}, **spec}
    agent = (await client.post("/v1/agents", headers=headers, json=body)).json()
    assert (await client.post(f"/v1/agents/{agent['id']}/publish", headers=headers)).status_code == 201
    return str(agent["id"])


async def run_call(app: Any, client: Any, headers: dict[str, str], agent_id: str, lines: list[tuple[str, str]]) -> str:
    """A browser call that connects, says ``lines`` and hangs up, written the way the voice session does."""
    r = await client.post("/v1/web-calls", headers=headers, json={"agent_id": agent_id})
    call_id = str(r.json()["call"]["id"])
    sessions = app.state.ctx.sessions
    async with sessions() as db:
        call = await lifecycle.mark_in_progress(db, call_id=call_id)
        await db.commit()
    for offset, (role, text) in enumerate(lines):
        async with sessions() as db:
            await lifecycle.add_message(db, call=call, role=role, content=text, offset_ms=offset * 1000)
            await db.commit()
    async with sessions() as db:
        await lifecycle.finish(
            db, call_id=call_id, status="completed", end_reason="caller-hangup", latency={}, recording_key=None
        )
        await db.commit()
    return call_id
