"""Call control for a phone call's session: the agent's tools act through the carrier.

Hang-up and transfer go to the carrier's REST API (any process can do that; the carrier then stops
the stream, which ends the session). DTMF goes down the line as in-band tones, queued in the
session's pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import OutputDTMFFrame

from bvrai.calls.models import Call
from bvrai.calls.repository import CallRepository
from bvrai.kit.context import AppContext
from bvrai.kit.errors import Problem
from bvrai.telephony import service
from bvrai.voice.control import CallControlUnsupported

if TYPE_CHECKING:
    from bvrai.voice.session import CallSession


class CarrierCallControl:
    def __init__(self, ctx: AppContext, call: Call) -> None:
        self.ctx, self.call_id = ctx, call.id
        self.session: CallSession | None = None

    async def hangup(self) -> None:
        async with self.ctx.sessions() as db:
            call = await CallRepository(db).call_unscoped(self.call_id)
            if call is None or call.ended_at is not None:
                return
            try:
                # No end reason here: the session records why the agent ended the call.
                await service.hangup(db, ctx=self.ctx, call=call, reason=None)
            except Problem as exc:
                if exc.status != 409:  # already over: nothing to do
                    raise
            await db.commit()

    async def transfer(self, number: str) -> None:
        async with self.ctx.sessions() as db:
            call = await CallRepository(db).call_unscoped(self.call_id)
            assert call is not None
            try:
                await service.transfer(db, ctx=self.ctx, call=call, number=number)
            except Problem as exc:
                raise CallControlUnsupported(exc.detail) from exc
            await db.commit()

    async def send_dtmf(self, digits: str) -> None:
        if self.session is None or self.session.worker is None:
            raise CallControlUnsupported("the call is not connected")
        keys = [KeypadEntry(d) for d in digits if d in "0123456789*#"]
        await self.session.worker.queue_frames([OutputDTMFFrame(button=k) for k in keys])
