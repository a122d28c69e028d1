"""Calls written straight into the database, as finished call sessions leave them."""

from __future__ import annotations

import wave
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from ulid import ULID

from bvrai.calls.models import Call, CallEvent, CallMessage
from bvrai.kit.db import utcnow
from bvrai.kit.ids import new_id
from bvrai.kit.storage import LocalStorage

TURNS = [
    {"transcript_ms": 320, "llm_first_token_ms": 610, "tts_first_audio_ms": 700, "bot_started_ms": 760},
    {"transcript_ms": 400, "llm_first_token_ms": 900, "tts_first_audio_ms": 980, "bot_started_ms": 1040},
]


async def add_call(
    app: FastAPI | None,
    *,
    org_id: str,
    agent_id: str,
    status: str = "completed",
    direction: str = "web",
    end_reason: str | None = "caller-hangup",
    created_at: datetime | None = None,
    duration_s: float = 42.0,
    latency: dict[str, Any] | None = None,
    recording: bool = False,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    storage: LocalStorage | None = None,
) -> str:
    """Through the app's own database and storage, or (for a server in another thread) the given ones."""
    sessions = sessions or app.state.ctx.sessions  # type: ignore[union-attr]
    storage = storage or app.state.ctx.storage  # type: ignore[union-attr]
    when = created_at or utcnow()
    call_id = f"call_{str(ULID.from_datetime(when)).lower()}"  # like new_id, at the call's creation time
    call = Call(
        id=call_id,
        org_id=org_id,
        agent_id=agent_id,
        agent_version=1,
        direction=direction,
        status=status,
        variables={"company": "Bella Pizza"},
        started_at=when,
        ended_at=when + timedelta(seconds=duration_s) if status in ("completed", "failed") else None,
        duration_s=duration_s if status in ("completed", "failed") else None,
        end_reason=end_reason,
        latency=latency if latency is not None else {"turns": TURNS, "p50_ms": 900, "p90_ms": 1012},
        created_at=when,
        updated_at=when,
    )
    if recording:
        key = f"recordings/{org_id}/{call_id}.wav"
        with wave.open(str(storage.writable_path(key)), "wb") as wav:
            wav.setnchannels(2)
            wav.setsampwidth(2)
            wav.setframerate(16000)
            wav.writeframes(b"\x00\x00\x00\x00" * 16000 * 3)
        call.recording_key = key
    async with sessions() as session:
        session.add(call)
        await session.flush()
        lines = [
            ("assistant", "Hello, Bella Pizza, how can I help?", 0, {}),
            ("user", "What time do you open today?", 2400, {}),
            ("tool", "check_hours", 2900, {"arguments": {"day": "today"}, "result": {"open": "11:00"}}),
            ("assistant", "We open at 11 am.", 3300, {}),
        ]
        for seq, (role, content, offset, data) in enumerate(lines, start=1):
            session.add(
                CallMessage(
                    id=new_id("msg"),
                    call_id=call_id,
                    org_id=org_id,
                    seq=seq,
                    role=role,
                    content=content,
                    offset_ms=offset,
                    data=data,
                )
            )
        session.add(
            CallEvent(id=new_id("evt"), call_id=call_id, org_id=org_id, type="call.ended", data={"status": status})
        )
        await session.commit()
    return call_id
