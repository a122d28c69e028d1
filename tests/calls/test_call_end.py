"""A call ends once: the session's own end and the carrier's completed callback can arrive together,
and whichever writes second must not end the call again (one ``call.ended`` event, one webhook)."""

from __future__ import annotations

from bvrai.calls import lifecycle
from bvrai.calls.models import Call, CallEvent
from bvrai.kit.context import AppContext
from tests.calls.test_web_calls import published_agent


async def ended_events(ctx: AppContext, call_id: str) -> list[CallEvent]:
    from sqlalchemy import select

    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(CallEvent).where(CallEvent.call_id == call_id, CallEvent.type == "call.ended")
        )
        return list(rows)


async def test_the_session_and_the_carrier_ending_one_call_together_end_it_once(app, client, owner):
    ctx: AppContext = app.state.ctx
    agent_id = await published_agent(client, owner)
    call_id = (await client.post("/v1/web-calls", headers=owner.headers, json={"agent_id": agent_id})).json()["call"][
        "id"
    ]

    async with ctx.sessions() as carrier, ctx.sessions() as media:
        stale = await carrier.get(Call, call_id)  # the callback read the call while it was still up
        assert stale is not None and stale.ended_at is None
        await lifecycle.finish(
            media, call_id=call_id, status="completed", end_reason="agent-hangup", latency={}, recording_key=None
        )
        await media.commit()
        changed = await lifecycle.apply_carrier_status(carrier, call=stale, status="completed", duration_s=12.0)
        await carrier.commit()

    assert changed is False
    assert len(await ended_events(ctx, call_id)) == 1
    call = (await client.get(f"/v1/calls/{call_id}", headers=owner.headers)).json()
    assert call["status"] == "completed" and call["end_reason"] == "agent-hangup" and call["duration_s"] == 12.0


async def test_a_session_ending_a_call_the_carrier_already_ended_keeps_the_carriers_end(app, client, owner):
    ctx: AppContext = app.state.ctx
    agent_id = await published_agent(client, owner)
    call_id = (await client.post("/v1/web-calls", headers=owner.headers, json={"agent_id": agent_id})).json()["call"][
        "id"
    ]

    async with ctx.sessions() as carrier, ctx.sessions() as media:
        stale = await media.get(Call, call_id)
        assert stale is not None and stale.ended_at is None
        live = await carrier.get(Call, call_id)
        assert await lifecycle.apply_carrier_status(carrier, call=live, status="no-answer")
        await carrier.commit()
        await lifecycle.finish(
            media, call_id=call_id, status="completed", end_reason="agent-hangup", latency={}, recording_key=None
        )
        await media.commit()

    assert len(await ended_events(ctx, call_id)) == 1
    call = (await client.get(f"/v1/calls/{call_id}", headers=owner.headers)).json()
    assert call["status"] == "no-answer" and call["end_reason"] == "no-answer"
