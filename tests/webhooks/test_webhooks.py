"""A customer subscribes a server to the org's events: every delivery is signed (and verifies with the
standardwebhooks library), a flaky server gets the event on a later try, every attempt is logged, a
delivery can be replayed, and a server that keeps failing is disabled."""

from __future__ import annotations

from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema
from tests.polling import eventually
from tests.webhooks.conftest import published_agent, run_call
from tests.webhooks.receiver import Receiver


async def subscribe(client: httpx.AsyncClient, headers: dict[str, str], url: str, **extra: Any) -> dict[str, Any]:
    r = await client.post("/v1/webhooks", headers=headers, json={"url": url, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def deliveries(client: httpx.AsyncClient, headers: dict[str, str], webhook_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def test_call_events_arrive_signed_and_verify_with_standardwebhooks(app, client, owner):
    async with Receiver() as receiver:
        hook = await subscribe(client, owner.headers, receiver.url, events=["call.started", "call.ended"])
        assert (
            hook["secret"].startswith("whsec_")
            and "secret" not in (await client.get(f"/v1/webhooks/{hook['id']}", headers=owner.headers)).json()
        )
        receiver.secret = hook["secret"]
        agent_id = await published_agent(client, owner.headers)
        call_id = await run_call(app, client, owner.headers, agent_id, [("assistant", "Hello"), ("user", "Bye")])

        async def both() -> bool:
            return len(receiver.delivered) == 2

        await eventually(both)
        assert [r.body["type"] for r in receiver.requests] == ["call.started", "call.ended"]
        assert all(r.verified for r in receiver.requests)
        ended = receiver.events("call.ended")[0]
        assert ended["data"]["call_id"] == call_id and ended["data"]["status"] == "completed"
        assert ended["data"]["end_reason"] == "caller-hangup" and ended["timestamp"].endswith("Z")
        assert receiver.requests[0].headers["webhook-id"].startswith("msg_")


async def test_a_server_failing_three_times_gets_the_event_on_the_fourth_try(app, client, owner):
    async with Receiver(fail_first=3) as receiver:
        hook = await subscribe(client, owner.headers, receiver.url, events=["call.ended"])
        receiver.secret = hook["secret"]
        agent_id = await published_agent(client, owner.headers)
        await run_call(app, client, owner.headers, agent_id, [("user", "Hi")])

        async def succeeded() -> list[dict[str, Any]]:
            rows = await deliveries(client, owner.headers, hook["id"])
            return rows if rows and rows[0]["status"] == "succeeded" else []

        (delivery,) = await eventually(succeeded)
        assert len(receiver.requests) == 4 and all(r.verified for r in receiver.requests)
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # one message, four tries
        attempts = delivery["attempts"]
        assert [a["status_code"] for a in attempts] == [500, 500, 500, 200]
        assert len(attempts[0]["response_body"]) == 1024 and attempts[0]["response_body"].startswith("down for")
        assert attempts[3]["response_body"] == "thanks" and all(a["latency_ms"] >= 0 for a in attempts)

        # Redelivery: the same message (same webhook-id) as a new delivery.
        r = await client.post(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver", headers=owner.headers)
        assert r.status_code == 202, r.text
        assert r.json()["message_id"] == delivery["message_id"]

        async def five() -> bool:
            return len(receiver.requests) == 5

        await eventually(five)
        assert receiver.requests[4].verified
        assert receiver.requests[4].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]
        assert receiver.requests[4].headers["webhook-timestamp"] >= receiver.requests[0].headers["webhook-timestamp"]


async def test_a_server_that_keeps_failing_is_disabled_and_the_owner_is_told(settings, tmp_path):
    settings.webhook_disable_after = 3
    await prepare_schema(settings.db_url)
    application = create_app(settings)
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as client,
    ):
        r = await client.post(
            "/v1/auth/signup",
            json={"email": "o@example.com", "password": "correct horse battery", "name": "O", "organization_name": "A"},
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        async with Receiver(fail_first=10**6) as broken, Receiver() as owner_inbox:
            hook = await subscribe(client, headers, broken.url, events=["call.ended"])
            await subscribe(client, headers, owner_inbox.url, events=["webhook.disabled"])
            agent_id = await published_agent(client, headers)
            for _ in range(3):
                await run_call(application, client, headers, agent_id, [("user", "Hi")])

            async def disabled() -> dict[str, Any] | None:
                body = (await client.get(f"/v1/webhooks/{hook['id']}", headers=headers)).json()
                return body if not body["enabled"] else None

            endpoint = await eventually(disabled)
            assert endpoint["disabled_reason"] == "3 failed deliveries in a row"

            async def told() -> list[dict[str, Any]]:
                return owner_inbox.events("webhook.disabled")

            (event,) = await eventually(told)
            assert event["data"]["webhook_id"] == hook["id"]
            last = (await deliveries(client, headers, hook["id"]))[0]
            r = await client.post(f"/v1/webhooks/{hook['id']}/deliveries/{last['id']}/redeliver", headers=headers)
            assert r.status_code == 409
            r = await client.patch(f"/v1/webhooks/{hook['id']}", headers=headers, json={"enabled": True})
            assert r.json()["enabled"] is True and r.json()["consecutive_failures"] == 0


async def test_loopback_endpoints_are_refused_unless_allow_listed(database_url, tmp_path):
    await prepare_schema(database_url)
    application = create_app(make_settings(database_url, tmp_path))  # no BVRAI_SSRF_ALLOW
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as client,
    ):
        r = await client.post(
            "/v1/auth/signup",
            json={"email": "o@example.com", "password": "correct horse battery", "name": "O", "organization_name": "A"},
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for url in ("http://127.0.0.1:9/hooks", "http://10.0.0.5/hooks", "http://[::1]/hooks"):
            r = await client.post("/v1/webhooks", headers=headers, json={"url": url})
            assert r.status_code == 422, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert "refused" in r.json()["detail"]


async def test_the_agents_webhook_url_gets_its_calls_events_signed_with_the_org_secret(app, client, owner):
    async with Receiver() as receiver:
        agent_id = await published_agent(client, owner.headers, webhook_url=receiver.url)
        receiver.secret = (await client.get("/v1/organization/signing-secret", headers=owner.headers)).json()["secret"]
        call_id = await run_call(app, client, owner.headers, agent_id, [("user", "Hi")])

        async def ended() -> list[dict[str, Any]]:
            return receiver.events("call.ended")

        (event,) = await eventually(ended)
        assert event["data"]["call_id"] == call_id and all(r.verified for r in receiver.requests)
        assert "transcript.final" not in {r.body["type"] for r in receiver.requests}  # opt-in only
