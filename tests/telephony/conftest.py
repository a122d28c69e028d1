"""Phone calls end to end: a live server whose carrier is the fake Twilio (and whose cloud providers
are the fakes), a signed-up org with its Twilio account in the vault, and helpers to connect numbers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema
from tests.fakes.fixtures import anthropic_fake, deepgram_fake, elevenlabs_fake, openai_fake  # noqa: F401
from tests.fakes.twilio import TwilioFake
from tests.live import LiveServer, serve

OUR_NUMBER = "+14155550100"
CALLER = "+14155550123"


@dataclass
class Phone:
    """The org's side: an API client, the live server, and its Twilio account's credential."""

    http: httpx.AsyncClient
    server: LiveServer
    twilio: TwilioFake
    credential_id: str
    fakes: dict[str, Any]

    def url(self, path: str) -> str:
        return self.server.base_url + path

    async def agent(self, spec: dict[str, Any]) -> str:
        created = (await self.http.post("/v1/agents", json=spec)).json()
        assert "id" in created, created
        assert (await self.http.post(f"/v1/agents/{created['id']}/publish")).status_code == 201
        return str(created["id"])

    async def number(self, agent_id: str | None, number: str = OUR_NUMBER) -> dict[str, Any]:
        """Import a number the Twilio account owns, answered by ``agent_id``."""
        self.twilio.own(
            number, voice_url=self.url("/telephony/twilio/voice"), status_url=self.url("/telephony/twilio/status")
        )
        body = {
            "number": number,
            "carrier": "twilio",
            "credential_id": self.credential_id,
            "inbound_agent_id": agent_id,
        }
        r = await self.http.post("/v1/phone-numbers", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())


@pytest.fixture
async def twilio_fake() -> AsyncIterator[TwilioFake]:
    async with TwilioFake() as fake:
        yield fake


@pytest.fixture
async def phone(
    database_url: str,
    tmp_path: Path,
    twilio_fake: TwilioFake,
    deepgram_fake,  # noqa: F811
    openai_fake,  # noqa: F811
    elevenlabs_fake,  # noqa: F811
) -> AsyncIterator[Phone]:
    await prepare_schema(database_url)
    urls = {
        "twilio": twilio_fake.url,
        "deepgram": deepgram_fake.url,
        "openai": openai_fake.url + "/v1",
        "elevenlabs": elevenlabs_fake.url,
    }
    with serve(create_app(make_settings(database_url, tmp_path, provider_base_urls=urls))) as server:
        # Carriers are told to call the deployment's public URL: here, the live server itself.
        server.app.state.ctx.settings.public_base_url = server.base_url
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            r = await http.post(
                "/v1/auth/signup",
                json={
                    "email": "p@example.com",
                    "password": "long password 1",
                    "name": "P",
                    "organization_name": "Pizza",
                },
            )
            http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            for fake in (deepgram_fake, openai_fake, elevenlabs_fake):
                body = {"provider": fake.name, "name": fake.name, "secret": fake.api_key}
                assert (await http.post("/v1/credentials", json=body)).status_code == 201
            cred = {
                "provider": "twilio",
                "name": "Twilio main",
                "secret": twilio_fake.auth_token,
                "extra": {"account_sid": twilio_fake.account_sid},
            }
            r = await http.post("/v1/credentials", json=cred)
            assert r.status_code == 201, r.text
            fakes = {"deepgram": deepgram_fake, "openai": openai_fake, "elevenlabs": elevenlabs_fake}
            yield Phone(http=http, server=server, twilio=twilio_fake, credential_id=r.json()["id"], fakes=fakes)
