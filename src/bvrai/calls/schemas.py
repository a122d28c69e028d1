from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

VariableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")]
VariableValue = Annotated[str, StringConstraints(max_length=2000)]


class CallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    agent_id: str
    agent_version: int
    direction: str
    status: str
    variables: dict[str, Any]
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    end_reason: str | None
    error: str | None
    latency: dict[str, Any]
    has_recording: bool = False
    phone_number_id: str | None = None
    carrier: str | None = None
    carrier_call_id: str | None = Field(default=None, description="The carrier's id of the call (Twilio CallSid)")
    from_number: str | None = Field(default=None, description="The caller (phone calls); stored encrypted")
    to_number: str | None = Field(default=None, description="The callee (phone calls); stored encrypted")
    answered_by: str | None = Field(default=None, description="Answering-machine detection's verdict")
    created_at: datetime


class CallMessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    role: str
    content: str
    offset_ms: int
    interrupted: bool
    data: dict[str, Any]


class TranscriptOut(BaseModel):
    call_id: str
    messages: list[CallMessageOut]


class CallEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    type: str
    data: dict[str, Any]
    created_at: datetime


class WebCallIn(BaseModel):
    agent_id: Annotated[str, Field(max_length=64)]
    variables: dict[VariableName, VariableValue] = Field(default_factory=dict, max_length=50)


class WebCallOut(BaseModel):
    call: CallOut
    token: str = Field(description="Single use, valid for 60 s: attaches one media connection")
    websocket_url: str = Field(description="Connect here with ?token=...; PCM16 mono 16 kHz in binary frames")
    expires_at: datetime


class OutboundCallIn(BaseModel):
    agent_id: Annotated[str, Field(max_length=64)]
    phone_number_id: Annotated[str, Field(max_length=64)] = Field(description="One of the org's numbers: the caller ID")
    to: Annotated[str, Field(min_length=3, max_length=32)] = Field(description="The callee, E.164 (+14155550123)")
    variables: dict[VariableName, VariableValue] = Field(default_factory=dict, max_length=50)
    machine_detection: bool = Field(default=False, description="Detect answering machines (sets answered_by)")
    ring_timeout_s: int = Field(default=30, ge=5, le=600, description="How long to let it ring")


class TransferIn(BaseModel):
    number: Annotated[str, Field(min_length=3, max_length=32)] = Field(description="Where to send the caller, E.164")
