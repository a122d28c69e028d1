"""What a call's start and end set off: webhook events (org endpoints and the agent's webhook_url),
the opt-in final transcript, and the post-call analysis job. Called inside the call's transaction, so
everything here is enqueued only when it commits."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bvrai.agents import service as agents
from bvrai.calls.models import Call
from bvrai.identity.principal import Principal
from bvrai.webhooks import service

TRANSCRIPT_BUDGET = 16_000  # bytes of messages in a transcript.final body; past it, fetch the transcript


def system(org_id: str) -> Principal:
    return Principal(org_id=org_id, role="system", permissions=frozenset())


def call_data(call: Call) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "call_id": call.id,
        "agent_id": call.agent_id,
        "agent_version": call.agent_version,
        "direction": call.direction,
        "status": call.status,
        "end_reason": call.end_reason,
        "started_at": iso(call.started_at),
        "ended_at": iso(call.ended_at),
        "duration_s": call.duration_s,
    }


async def agent_webhook_url(session: AsyncSession, call: Call) -> str | None:
    version = await agents.get_version(
        session, principal=system(call.org_id), agent_id=call.agent_id, version=call.agent_version
    )
    url = version.spec.get("webhook_url")
    return str(url) if url else None


async def on_call_event(session: AsyncSession, *, call: Call, type: str) -> None:
    from bvrai.analysis import service as analysis
    from bvrai.calls import service as calls

    url = await agent_webhook_url(session, call)
    await service.emit_event(session, org_id=call.org_id, type=type, data=call_data(call), agent_webhook_url=url)
    if type != "call.ended":
        return
    messages = await calls.transcript(session, principal=system(call.org_id), call_id=call.id)
    lines = [{"role": m.role, "content": m.content, "offset_ms": m.offset_ms} for m in messages if m.role != "tool"]
    complete = len(json.dumps(lines)) <= TRANSCRIPT_BUDGET
    data = {"call_id": call.id, "complete": complete, "messages": lines if complete else []}
    await service.emit_event(session, org_id=call.org_id, type="transcript.final", data=data)
    await analysis.schedule(session, call=call)
