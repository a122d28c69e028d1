"""The media plane for browser and simulated calls: one WebSocket per call, opened with its token."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Query, WebSocket

from bvrai.agents import service as agents
from bvrai.agents.spec import AgentSpec
from bvrai.calls import service as calls
from bvrai.identity.principal import Principal
from bvrai.kit.errors import Problem
from bvrai.voice.control import WebCallControl
from bvrai.voice.session import CallSession, LineFormat
from bvrai.voice.web_serializer import WEB_SAMPLE_RATE, WebPCMSerializer

router = APIRouter()
log = structlog.get_logger(__name__)

# RFC 6455 leaves 4000-4999 to applications; these mirror the HTTP statuses they stand for.
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


@router.websocket("/media/web")
async def web_media(websocket: WebSocket, token: Annotated[str, Query(max_length=2000)] = "") -> None:
    ctx = websocket.app.state.ctx
    try:
        async with ctx.sessions() as db:
            call = await calls.attach_media(db, ctx=ctx, token=token)
            system = Principal(org_id=call.org_id, role="system", permissions=frozenset())
            version = await agents.get_version(db, principal=system, agent_id=call.agent_id, version=call.agent_version)
            await db.commit()
    except Problem as exc:
        log.info("media_refused", reason=exc.detail)
        # Accept first so the client sees why: a refused handshake would only say "403".
        await websocket.accept()
        await websocket.close(code=CLOSE_UNAUTHORIZED if exc.status == 401 else CLOSE_NOT_FOUND, reason=exc.detail)
        return
    await websocket.accept()
    line = LineFormat(serializer=WebPCMSerializer(), in_rate=WEB_SAMPLE_RATE, out_rate=WEB_SAMPLE_RATE)
    session = CallSession(
        ctx=ctx,
        call=call,
        spec=AgentSpec.model_validate(version.spec),
        websocket=websocket,
        line=line,
        control=WebCallControl(),
    )
    await session.run()
