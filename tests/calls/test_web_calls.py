"""A developer starts a browser call through the API; only the token it returns opens the media line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from bvrai.app import create_app
from bvrai.calls.service import attach_media
from bvrai.kit.context import AppContext
from tests.conftest import make_settings, prepare_schema
from tests.live import serve


async def published_agent(client, account, **spec) -> str:
    body = {"name": "Greeter", "system_prompt": "Be brief.", **spec}
    agent = (await client.post("/v1/agents", headers=account.headers, json=body)).json()
    assert (await client.post(f"/v1/agents/{agent['id']}/publish", headers=account.headers)).status_code == 201
    return str(agent["id"])


async def test_starting_a_web_call_returns_a_token_and_a_queued_call(client, owner):
    agent_id = await published_agent(client, owner)
    r = await client.post(
        "/v1/web-calls", headers=owner.headers, json={"agent_id": agent_id, "variables": {"name": "Ann"}}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["websocket_url"].endswith("/media/web")
    assert body["call"]["status"] == "queued" and body["call"]["direction"] == "web"
    assert body["call"]["agent_version"] == 1 and body["call"]["variables"] == {"name": "Ann"}
    listed = (await client.get("/v1/calls", headers=owner.headers)).json()["data"]
    assert [c["id"] for c in listed] == [body["call"]["id"]]
    audit = (await client.get("/v1/audit-logs?action=call.create", headers=owner.headers)).json()["data"]
    assert audit[0]["target_id"] == body["call"]["id"]


async def test_an_unpublished_agent_cannot_take_calls(client, owner):
    draft = (await client.post("/v1/agents", headers=owner.headers, json={"name": "D", "system_prompt": "x"})).json()
    r = await client.post("/v1/web-calls", headers=owner.headers, json={"agent_id": draft["id"]})
    assert r.status_code == 409 and "publish" in r.json()["detail"]


async def test_a_call_has_no_recording_until_it_ran(client, owner):
    agent_id = await published_agent(client, owner)
    call = (await client.post("/v1/web-calls", headers=owner.headers, json={"agent_id": agent_id})).json()["call"]
    r = await client.get(f"/v1/calls/{call['id']}/recording", headers=owner.headers)
    assert r.status_code == 404
    transcript = (await client.get(f"/v1/calls/{call['id']}/transcript", headers=owner.headers)).json()
    assert transcript == {"call_id": call["id"], "messages": []}


@pytest.fixture
def live(database_url: str, tmp_path: Path):
    asyncio.run(prepare_schema(database_url))
    with serve(create_app(make_settings(database_url, tmp_path))) as server:
        yield server


async def _refused(url: str) -> tuple[int, str]:
    """The close code and reason the media line answers with (it accepts, then says why it closes)."""
    async with websockets.connect(url) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), timeout=10)
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


async def test_the_media_line_refuses_forged_expired_and_reused_tokens(live):
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        signup = await http.post(
            "/v1/auth/signup",
            json={"email": "a@example.com", "password": "long password 1", "name": "A", "organization_name": "O"},
        )
        headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
        agent = (await http.post("/v1/agents", headers=headers, json={"name": "G", "system_prompt": "x"})).json()
        await http.post(f"/v1/agents/{agent['id']}/publish", headers=headers)
        token = (await http.post("/v1/web-calls", headers=headers, json={"agent_id": agent["id"]})).json()["token"]

    assert await _refused(f"{live.ws_url}/media/web?token=forged.token.value") == (
        4401,
        "invalid or expired media token",
    )
    assert (await _refused(f"{live.ws_url}/media/web"))[0] == 4401
    # Spend it as the first connection would (through this test's own engine: the server's lives on
    # the server's event loop); a replay is then refused.
    ctx = AppContext.create(live.app.state.ctx.settings)
    async with ctx.sessions() as db:
        await attach_media(db, ctx=ctx, token=token)
        await db.commit()
    await ctx.close()
    assert await _refused(f"{live.ws_url}/media/web?token={token}") == (4401, "this media token was already used")
