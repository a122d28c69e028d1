from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from bvrai.kit.phone import to_e164

Carrier = Literal["twilio", "telnyx", "plivo", "vonage"]
E164 = Annotated[str, StringConstraints(min_length=3, max_length=32), AfterValidator(to_e164)]
ResourceRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PhoneNumberIn(BaseModel):
    """Import a number the org owns at a carrier, or (Twilio, ``buy``) buy it there first."""

    number: E164 = Field(description="E.164, e.g. +14155550100")
    carrier: Carrier
    credential_id: ResourceRef = Field(description="The vault credential of the carrier account that owns the number")
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    inbound_agent_id: ResourceRef | None = Field(default=None, description="The agent that answers calls to it")
    buy: bool = Field(
        default=False,
        description="Twilio only: buy the number through the account, pointing its voice and status URLs here",
    )


class PhoneNumberPatch(BaseModel):
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    inbound_agent_id: ResourceRef | None = Field(default=None, description="null: calls to the number are refused")


class PhoneNumberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    carrier: str
    credential_id: str
    carrier_number_id: str | None
    name: str | None
    inbound_agent_id: str | None
    voice_url: str = Field(description="Set this as the number's voice (answer) webhook at the carrier")
    status_url: str = Field(description="Set this as the number's call status callback at the carrier")
    created_at: datetime
    updated_at: datetime


class AvailableNumberOut(BaseModel):
    number: str
    friendly_name: str | None = None
    locality: str | None = None
    region: str | None = None
    country: str | None = None
