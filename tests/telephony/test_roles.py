"""`bvrai media` serves the media plane alone and `bvrai api` the REST API and carrier webhooks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import websockets

from bvrai.app import create_app
from tests.conftest import make_settings, prepare_schema
from tests.live import serve


@pytest.fixture
def settings(database_url: str, tmp_path: Path):
    asyncio.run(prepare_schema(database_url))
    return make_settings(database_url, tmp_path)


def test_the_media_role_has_the_streams_and_not_the_api(settings):
    with serve(create_app(settings, role="media")) as media:
        assert httpx.get(media.base_url + "/healthz").status_code == 200
        assert httpx.get(media.base_url + "/v1/agents").status_code == 404
        assert httpx.post(media.base_url + "/telephony/twilio/voice").status_code == 404

        async def refused_without_token() -> int | None:
            async with websockets.connect(media.ws_url + "/telephony/twilio/media") as ws:
                await ws.send('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
                await ws.send('{"event": "start", "sequenceNumber": "1", "start": {"customParameters": {}}}')
                with pytest.raises(websockets.ConnectionClosed):
                    await ws.recv()
                return ws.close_code

        assert asyncio.run(refused_without_token()) == 4401


def test_the_api_role_has_the_webhooks_and_not_the_streams(settings):
    with serve(create_app(settings, role="api")) as api:
        assert httpx.get(api.base_url + "/v1/agents").status_code == 401
        assert httpx.post(api.base_url + "/telephony/twilio/voice", data={}).status_code == 400

        async def no_stream_route() -> None:
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(api.ws_url + "/telephony/twilio/media"):
                    pass

        asyncio.run(no_stream_route())
