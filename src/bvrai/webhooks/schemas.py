from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

# Every event the platform sends; transcript.final is sent only to endpoints that list it.
EVENT_TYPES = (
    "call.started",
    "call.ended",
    "call.analyzed",
    "transcript.final",
    "campaign.completed",
    "document.ready",
    "document.failed",
    "webhook.disabled",
)
OPT_IN_EVENTS = frozenset({"transcript.final"})
EventType = Literal[
    "call.started",
    "call.ended",
    "call.analyzed",
    "transcript.final",
    "campaign.completed",
    "document.ready",
    "document.failed",
    "webhook.disabled",
]
Description = Annotated[str, StringConstraints(max_length=500)]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    events: list[EventType] = Field(
        default_factory=list, max_length=20, description="Empty: every event except the opt-in transcript.final"
    )
    description: Description | None = None


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None
    events: list[EventType] | None = Field(default=None, max_length=20)
    description: Description | None = None
    enabled: bool | None = Field(default=None, description="true re-enables an endpoint that was disabled")


class EndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    created_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="whsec_...: verify deliveries with any Standard Webhooks library")


class SecretOut(BaseModel):
    secret: str


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    status_code: int | None
    latency_ms: int
    response_body: str | None = Field(description="The first KB of the reply")
    error: str | None
    created_at: datetime


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    message_id: str = Field(description="The webhook-id header; the same on every retry and redelivery")
    event_type: str
    url: str
    status: str
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None
    created_at: datetime
