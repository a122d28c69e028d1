"""What every carrier adapter offers the platform, and how an org's carrier account is reached.

An account is a credential from the org's vault: its secret is the carrier's auth token (Twilio,
Plivo) or API key (Telnyx, Vonage), its ``extra`` the non-secret ids (``account_sid``, ``auth_id``,
``application_id``...). Where the carrier's REST API lives is a setting (``BVRAI_PROVIDER_BASE_URLS``
names a proxy or, in tests, a local fake).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

CARRIERS = ("twilio", "telnyx", "plivo", "vonage")


class CarrierError(Exception):
    """The carrier refused or failed a request; ``status`` is its HTTP status (0: unreachable)."""

    def __init__(self, message: str, *, status: int = 0, code: str | int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class CarrierAccount:
    carrier: str
    secret: str
    extra: dict[str, Any] = field(default_factory=dict)
    base_url: str | None = None

    def require(self, key: str) -> str:
        value = self.extra.get(key)
        if not isinstance(value, str) or not value:
            raise CarrierError(f"the {self.carrier} credential needs '{key}' in its extra settings")
        return value


@dataclass(frozen=True)
class PlacedCall:
    carrier_call_id: str
    status: str


class CarrierClient(Protocol):
    """The REST control every carrier adapter implements (numbers are carrier-specific extras)."""

    async def place_call(
        self,
        *,
        from_number: str,
        to_number: str,
        answer_url: str,
        status_url: str,
        machine_detection: bool,
        ring_timeout_s: int,
    ) -> PlacedCall: ...

    async def hangup(self, carrier_call_id: str) -> None: ...

    async def transfer(self, carrier_call_id: str, number: str) -> None: ...


def client_for(account: CarrierAccount) -> CarrierClient:
    if account.carrier == "twilio":
        from bvrai.telephony.twilio import TwilioClient

        return TwilioClient(account)
    if account.carrier == "telnyx":
        from bvrai.telephony.telnyx import TelnyxClient

        return TelnyxClient(account)
    if account.carrier == "plivo":
        from bvrai.telephony.plivo import PlivoClient

        return PlivoClient(account)
    if account.carrier == "vonage":
        from bvrai.telephony.vonage import VonageClient

        return VonageClient(account)
    raise CarrierError(f"unknown carrier {account.carrier!r}")
