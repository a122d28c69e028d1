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
