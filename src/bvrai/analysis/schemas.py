from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AnalysisOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    call_id: str
    status: str = Field(description="pending, completed, or failed (error says why)")
    summary: str | None
    success: bool | None = Field(description="The verdict against the agent's success_rubric")
    success_reason: str | None
    sentiment: str | None = Field(description="The caller's: positive, neutral or negative")
    structured_data: dict[str, Any] | None = Field(description="Valid against the agent's structured_data_schema")
    structured_data_status: str | None = Field(description="valid, failed, or null when the agent asks for none")
    structured_data_error: str | None
    error: str | None
    llm: str | None
    updated_at: datetime
