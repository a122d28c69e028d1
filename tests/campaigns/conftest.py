"""Campaign tests: the live app of ``tests.telephony`` (fake Twilio as the carrier), a published
agent, the org's number, and helpers to create, fill and follow a campaign."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx

from bvrai.app import create_app
from bvrai.config import Settings
from tests.conftest import prepare_schema
from tests.fakes.fixtures import anthropic_fake, deepgram_fake, elevenlabs_fake, openai_fake  # noqa: F401
from tests.fakes.twilio import TwilioFake
from tests.live import serve
from tests.polling import eventually
from tests.telephony.conftest import Phone, phone, twilio_fake  # noqa: F401
from tests.workers import stamp_head

AGENT = {
    "name": "Reminders",
    "system_prompt": "You remind {{first_name}} of their appointment.",
    "first_message": "Hello {{first_name}}, this is Bella Pizza.",
    "transcriber": {"provider": "deepgram", "model": "nova-3"},
    "llm": {"provider": "openai", "model": "gpt-4o-mini"},
    "voice": {"provider": "elevenlabs"},
    "turn": {"smart_turn": False, "vad_stop_secs": 0.4},
    "analysis": {"summary": False},
}


def contact_number(i: int) -> str:
    return f"+1415555{1000 + i:04d}"


def csv_of(rows: Sequence[Sequence[str]], header: Sequence[str] = ("phone", "first_name", "timezone")) -> bytes:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


async def new_campaign(ph: Phone, **fields: Any) -> dict[str, Any]:
    agent_id = await ph.agent(AGENT)
    number = await ph.number(None)
    body = {"name": "Reminders", "agent_id": agent_id, "phone_number_id": number["id"], **fields}
    r = await ph.http.post("/v1/campaigns", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def upload(ph: Phone, campaign_id: str, data: bytes) -> dict[str, Any]:
    files = {"file": ("contacts.csv", data, "text/csv")}
    r = await ph.http.post(f"/v1/campaigns/{campaign_id}/contacts", files=files)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def campaign(ph: Phone, campaign_id: str) -> dict[str, Any]:
    r = await ph.http.get(f"/v1/campaigns/{campaign_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def contacts(ph: Phone, campaign_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (await ph.http.get(f"/v1/campaigns/{campaign_id}/contacts", params=params)).json()
        rows += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return rows


async def wait_status(ph: Phone, campaign_id: str, status: str, timeout_s: float = 180) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        body = await campaign(ph, campaign_id)
        return body if body["status"] == status else None

    return await eventually(reached, timeout_s=timeout_s, every_s=0.2)


def dials(twilio: TwilioFake) -> list[str]:
    """The ``To`` of every call creation the carrier received, in order."""
    return [r.body["To"] for r in twilio.requests if r.method == "POST" and r.path.endswith("/Calls.json")]


def max_overlap(twilio: TwilioFake) -> int:
    """The most calls that were up at the carrier at once (created .. ended)."""
    edges: list[tuple[datetime, int]] = []
    for call in twilio.calls.values():
        if call.direction == "outbound":
            edges.append((call.created_at, 1))
            if call.end_time is not None:
                edges.append((call.end_time, -1))
    live = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        live += step
        peak = max(peak, live)
    return peak


@asynccontextmanager
async def api_phone(settings: Settings, twilio: TwilioFake) -> AsyncIterator[Phone]:
    """An API-only server (it enqueues, ``bvrai worker`` processes dial) on ``settings``' database,
    with a signed-up org whose Twilio account is the fake."""
    await prepare_schema(settings.db_url)
    await stamp_head(settings.db_url)
    with serve(create_app(settings, role="api")) as server:
        settings.public_base_url = server.base_url  # the workers get it through their environment
        server.app.state.ctx.settings.public_base_url = server.base_url
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            signup = {"email": "c@example.com", "password": "long password 1", "name": "C", "organization_name": "Co"}
            r = await http.post("/v1/auth/signup", json=signup)
            http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            cred = {
                "provider": "twilio",
                "name": "Twilio main",
                "secret": twilio.auth_token,
                "extra": {"account_sid": twilio.account_sid},
            }
            r = await http.post("/v1/credentials", json=cred)
            assert r.status_code == 201, r.text
            yield Phone(http=http, server=server, twilio=twilio, credential_id=r.json()["id"], fakes={})
