"""ElevenLabs streaming text-to-speech, on pipecat's ``ElevenLabsTTSService`` (the multi-context
WebSocket, with word alignment) or, with ``ctx.extra["transport"] == "http"``, its HTTP variant
(``stream/with-timestamps``).

``ctx.base_url`` is the API root (``https://api.elevenlabs.io``); the WebSocket URL is derived from it
(``wss://api.elevenlabs.io``), so one setting serves both transports.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.services.elevenlabs.tts import ElevenLabsHttpTTSService, ElevenLabsTTSService
from pipecat.utils.errors import ErrorCategory
from websockets.exceptions import ConnectionClosedError

from bvrai.providers.base import ProviderContext
from bvrai.providers.cloud._common import field, http_to_ws, require_secret, timeout_s, ws_to_http
from bvrai.providers.cloud._errors import MapsProviderErrors

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
# ElevenLabs accepts voice speed 0.7..1.2; the spec allows 0.5..2.0 for every engine.
SPEED_RANGE = (0.7, 1.2)

_AUTH_WORDS = ("api key", "api_key", "unauthorized", "authentication", "invalid_api_key", "missing_api_key")
_REQUEST_WORDS = ("voice_not_found", "model_not_found", "was not found", "invalid_output_format", "invalid_message")


def _category_from_text(text: str) -> ErrorCategory | None:
    lowered = text.lower()
    if any(w in lowered for w in _AUTH_WORDS):
        return ErrorCategory.AUTHENTICATION
    if any(w in lowered for w in _REQUEST_WORDS):
        return ErrorCategory.INVALID_REQUEST
    if "system_busy" in lowered or "too_many_concurrent" in lowered or "rate" in lowered:
        return ErrorCategory.RATE_LIMIT
    return None


def _close_category(exc: ConnectionClosedError) -> ErrorCategory | None:
    """What an ElevenLabs close frame means: 1008 carries the reason (bad key, unknown voice...)."""
    close = exc.rcvd
    if close is None or close.code != 1008:
        return None
    return _category_from_text(close.reason)


def _voice_settings(config: Any) -> dict[str, Any]:
    speed = float(field(config, "speed", 1.0))
    return {"speed": min(max(speed, SPEED_RANGE[0]), SPEED_RANGE[1])}


class ElevenLabsTTS(MapsProviderErrors, ElevenLabsTTSService):
    provider_id = "tts:elevenlabs"

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        if isinstance(exception, ConnectionClosedError):
            return _close_category(exception)
        return None

    async def _receive_messages(self) -> None:
        try:
            await super()._receive_messages()  # type: ignore[no-untyped-call]
        except ConnectionClosedError as exc:
            # ElevenLabs accepts the upgrade and refuses a bad key (or an unknown voice) with a 1008
            # close. Pipecat would take that for a dropped line and keep reconnecting; report it as what
            # it is, which also makes the service unusable so the reconnect loop stops.
            category = _close_category(exc)
            if category is not None and category.is_permanent:
                reason = exc.rcvd.reason if exc.rcvd else str(exc)
                await self.push_error(f"ElevenLabs closed the connection: {reason}", exception=exc, category=category)
            raise


class ElevenLabsHttpTTS(MapsProviderErrors, ElevenLabsHttpTTSService):
    provider_id = "tts:elevenlabs"

    def __init__(self, *, request_timeout_s: float, **kwargs: Any) -> None:
        # pipecat wants a session at construction; ours is opened in setup() and closed in cleanup(), so
        # a service built outside an event loop owns no socket until the call starts.
        super().__init__(aiohttp_session=None, **kwargs)  # type: ignore[arg-type]
        self._request_timeout_s = request_timeout_s

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]  # pipecat's own signature
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._request_timeout_s))
        await super().setup(setup)

    async def cleanup(self) -> None:
        await super().cleanup()  # type: ignore[no-untyped-call]
        if self._session is not None:
            await self._session.close()

    def _classify_message(self, message: str) -> ErrorCategory | None:
        # pipecat reports a failed request as "ElevenLabs API error: <body>" with no status; the body's
        # ``detail.status`` names the cause.
        _, _, body = message.partition(":")
        try:
            detail = json.loads(body).get("detail")
        except (ValueError, AttributeError):
            return _category_from_text(message)
        if isinstance(detail, list):
            return ErrorCategory.INVALID_REQUEST
        status = str((detail or {}).get("status", "")) if isinstance(detail, dict) else ""
        return _category_from_text(status) or _category_from_text(message)


def elevenlabs_tts(config: Any, ctx: ProviderContext) -> ElevenLabsTTS | ElevenLabsHttpTTS:
    """``voice: {provider: elevenlabs, voice_id, model, speed}`` → streaming TTS service."""
    secret = require_secret("tts:elevenlabs", ctx)
    base_url = (ctx.base_url or DEFAULT_BASE_URL).rstrip("/")
    voice = field(config, "voice_id", "21m00Tcm4TlvDq8ikWAM")
    model = field(config, "model", "eleven_flash_v2_5")
    service: ElevenLabsTTS | ElevenLabsHttpTTS
    if ctx.extra.get("transport") == "http":
        http_settings = ElevenLabsHttpTTSService.Settings(voice=voice, model=model, **_voice_settings(config))
        service = ElevenLabsHttpTTS(
            api_key=secret,
            base_url=ws_to_http(base_url),
            sample_rate=ctx.sample_rate,
            settings=http_settings,
            request_timeout_s=timeout_s(ctx),
        )
    else:
        ws_settings = ElevenLabsTTSService.Settings(voice=voice, model=model, **_voice_settings(config))
        service = ElevenLabsTTS(
            api_key=secret,
            url=http_to_ws(base_url),
            sample_rate=ctx.sample_rate,
            settings=ws_settings,
        )
    service.redact_secret = secret
    return service
