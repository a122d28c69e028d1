from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from bvrai.campaigns.window import ALL_DAYS, zone

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Clock = Annotated[str, StringConstraints(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]
Id = Annotated[str, Field(max_length=64)]
TimeZone = Annotated[str, Field(min_length=1, max_length=64, description="IANA time zone, e.g. America/New_York")]
RetryOutcome = Literal["busy", "no-answer", "failed"]
RETRYABLE: tuple[RetryOutcome, ...] = ("busy", "no-answer", "failed")
CampaignStatus = Literal["draft", "running", "paused", "completed", "canceled"]
ContactStatus = Literal["pending", "dialing", "in_progress", "completed", "failed", "canceled"]


def _check_zone(value: str | None) -> str | None:
    if value is not None and zone(value) is None:
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Paris)")
    return value


class Window(BaseModel):
    """When contacts may be called, on each contact's own wall clock: ``start`` <= time < ``end``."""

    model_config = ConfigDict(extra="forbid")

    start: Clock = "00:00"
    end: Clock = Field(default="24:00", description="Exclusive; 24:00 is the end of the day")
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=lambda: list(ALL_DAYS), max_length=7, description="0 = Monday ... 6 = Sunday"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start == "24:00" or self.start >= self.end:
            raise ValueError("window start must be before its end")
        self.days = sorted(set(self.days))
        return self


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delay_s: int = Field(default=3600, ge=0, le=7 * 24 * 3600, description="Wait this long before the next attempt")
    max_attempts: int = Field(default=1, ge=1, le=10, description="Attempts per contact, the first included")
    on: list[RetryOutcome] = Field(
        default_factory=lambda: list(RETRYABLE), max_length=3, description="Outcomes worth a retry"
    )


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    agent_id: Id = Field(description="A published agent of the org")
    phone_number_id: Id = Field(description="The org's number to call from")
    timezone: TimeZone = Field(default="UTC", description="Contacts without a timezone column use this zone")
    window: Window = Field(default_factory=Window)
    max_concurrent: int = Field(default=1, ge=1, le=100, description="Calls of this campaign at once")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    machine_detection: bool = False
    ring_timeout_s: int = Field(default=30, ge=5, le=600)

    _zone = field_validator("timezone")(_check_zone)


class CampaignPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    agent_id: Id | None = None
    phone_number_id: Id | None = None
    timezone: TimeZone | None = None
    window: Window | None = None
    max_concurrent: int | None = Field(default=None, ge=1, le=100)
    retry: RetryPolicy | None = None
    machine_detection: bool | None = None
    ring_timeout_s: int | None = Field(default=None, ge=5, le=600)

    _zone = field_validator("timezone")(_check_zone)


class Counts(BaseModel):
    total: int = 0
    pending: int = Field(default=0, description="Waiting for their turn, their window or a retry")
    dialing: int = 0
    in_progress: int = 0
    completed: int = Field(default=0, description="Answered")
    failed: int = Field(default=0, description="Out of attempts without an answer")
    canceled: int = 0
    attempts: int = Field(default=0, description="Finished attempts (calls), all outcomes")
    outcomes: dict[str, int] = Field(default_factory=dict, description="Finished attempts per call outcome")


class CampaignOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    agent_id: str
    phone_number_id: str
    status: CampaignStatus
    timezone: str
    window: Window
    max_concurrent: int
    retry: RetryPolicy
    machine_detection: bool
    ring_timeout_s: int
    counts: Counts = Field(default_factory=Counts)
    paused_reason: str | None = Field(default=None, description="Why the dialer paused the campaign itself")
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any, counts: dict[str, int], outcomes: dict[str, int]) -> CampaignOut:
        out = cls.model_validate(row)
        out.counts = Counts(total=sum(counts.values()), attempts=sum(outcomes.values()), outcomes=outcomes, **counts)
        return out


class ContactOut(BaseModel):
    id: str
    line: int
    phone: str
    timezone: str | None
    variables: dict[str, Any]
    status: ContactStatus
    attempts: int
    next_attempt_at: datetime | None
    last_outcome: str | None
    last_call_id: str | None


class RejectedRow(BaseModel):
    line: int = Field(description="The row's line in the file (the header is line 1)")
    phone: str
    reason: Literal["invalid_number", "invalid_timezone", "duplicate", "do_not_call", "too_many_contacts"]


class UploadReport(BaseModel):
    accepted: int
    rejected: list[RejectedRow]


class DoNotCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: Annotated[str, Field(min_length=3, max_length=32)] = Field(description="E.164, e.g. +14155550123")
    reason: Annotated[str, Field(max_length=200)] | None = None


class DoNotCallOut(BaseModel):
    id: str
    number: str
    reason: str | None
    created_at: datetime
