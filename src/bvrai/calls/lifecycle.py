"""What a running call session writes as it goes: status, transcript messages, events, the ending.

Each function is one short transaction opened by the caller (the voice session), so a crash mid-call
loses at most the message being written, and the API shows the call live.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.calls.models import Call, CallEvent, CallMessage
from bvrai.calls.repository import CallRepository
from bvrai.kit.db import utcnow
from bvrai.kit.ids import new_id

ENDED = {"completed", "busy", "no-answer", "failed", "canceled"}


async def mark_in_progress(session: AsyncSession, *, call_id: str) -> Call:
    call = await CallRepository(session).call_unscoped(call_id)
    assert call is not None
    call.status = "in-progress"
    call.started_at = call.started_at or utcnow()
    call.updated_at = utcnow()
    await add_event(session, call=call, type="call.started", data={})
    return call


async def add_message(
    session: AsyncSession,
    *,
    call: Call,
    role: str,
    content: str,
    offset_ms: int,
    interrupted: bool = False,
    data: dict[str, Any] | None = None,
) -> CallMessage:
    repo = CallRepository(session)
    message = CallMessage(
        id=new_id("msg"),
        call_id=call.id,
        org_id=call.org_id,
        seq=await repo.next_message_seq(call.id),
        role=role,
        content=content,
        offset_ms=offset_ms,
        interrupted=interrupted,
        data=data or {},
    )
    repo.add(message)
    await repo.flush()
    return message


async def add_event(session: AsyncSession, *, call: Call, type: str, data: dict[str, Any]) -> None:
    CallRepository(session).add(CallEvent(id=new_id("evt"), call_id=call.id, org_id=call.org_id, type=type, data=data))
    if type in ("call.started", "call.ended"):
        from bvrai.webhooks.call_hooks import on_call_event  # webhooks and analysis build on calls

        await on_call_event(session, call=call, type=type)
    if type == "call.ended" and call.direction == "outbound":
        from bvrai.campaigns.outcomes import on_call_ended  # a campaign's call tells its contact how it went

        await on_call_ended(session, call=call)


async def finish(
    session: AsyncSession,
    *,
    call_id: str,
    status: str,
    end_reason: str,
    latency: dict[str, Any],
    recording_key: str | None,
    error: str | None = None,
) -> Call:
    """The session's end. A carrier may have reported the end first (its status callback): then its
    status, time and duration stand, and the session adds what only it knows (latency, recording).
    A reason set while the call ran (an API hang-up, a transfer) is kept over the session's."""
    call = await CallRepository(session).call_unscoped(call_id)
    assert call is not None
    now = utcnow()
    call.latency = latency
    call.recording_key = recording_key
    call.error = call.error or error
    call.updated_at = now
    if call.ended_at is not None or not await CallRepository(session).claim_end(call, now):
        if status == "failed":
            call.status = status
        return call
    call.status = status
    # In SQL, not from the row read above: a hang-up or transfer in flight (another transaction that
    # holds the row) writes its reason first, and this keeps it.
    call.end_reason = func.coalesce(Call.end_reason, end_reason)
    call.duration_s = round((now - call.started_at).total_seconds(), 3) if call.started_at else 0.0
    await session.flush()
    await session.refresh(call, ["end_reason"])
    await add_event(session, call=call, type="call.ended", data={"status": status, "end_reason": call.end_reason})
    return call


# How far along a call is; a carrier's callbacks may arrive out of order and never move it back.
_PROGRESS = {"queued": 0, "ringing": 1, "in-progress": 2}


async def apply_carrier_status(
    session: AsyncSession,
    *,
    call: Call,
    status: str,
    duration_s: float | None = None,
    answered_by: str | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Move the call to the carrier's status; False when it changed nothing (late or repeated)."""
    now = utcnow()
    if answered_by:
        call.answered_by = answered_by
    ending = status in ENDED and call.ended_at is None and await CallRepository(session).claim_end(call, now)
    if call.ended_at is not None and not ending:
        if status in ENDED:
            # The session saw the end first (the stream stopped); the carrier's word is still recorded,
            # and its own count of the duration wins: it is what gets billed.
            if duration_s is not None and call.status == "completed":
                call.duration_s = duration_s
            await add_event(session, call=call, type="call.status", data={"status": status, **(data or {})})
        return False
    if status in ENDED:
        call.status = status
        call.end_reason = call.end_reason or ("caller-hangup" if status == "completed" else status)
        if duration_s is not None:
            call.duration_s = duration_s
        elif call.started_at is not None:
            call.duration_s = round((now - call.started_at).total_seconds(), 3)
        else:
            call.duration_s = 0.0
    elif _PROGRESS.get(status, -1) > _PROGRESS.get(call.status, -1):
        call.status = status
        if status == "in-progress":
            call.started_at = call.started_at or now
    else:
        return False
    call.updated_at = now
    await add_event(session, call=call, type="call.status", data={"status": status, **(data or {})})
    if status in ENDED:
        await add_event(session, call=call, type="call.ended", data={"status": status, "end_reason": call.end_reason})
    return True


async def extend_message(session: AsyncSession, *, message_id: str, more: str, interrupted: bool) -> CallMessage | None:
    """Continue the agent's last message: one utterance spoken as several TTS turns stays one line."""
    message = await session.get(CallMessage, message_id)
    if message is None:
        return None
    if more:
        message.content = f"{message.content} {more}".strip()
    message.interrupted = message.interrupted or interrupted
    return message
