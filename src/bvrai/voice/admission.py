"""New calls start, and ended calls are written down, when the calls on the line can spare the CPU.

Setting a call up (its records, its providers' clients and connections, the pipeline, the first
burst of the greeting's audio) costs a few tens of ms of CPU on the process's one event loop. When
many calls arrive at once (a campaign's first dials, a spike of inbound calls), those set-ups run
back to back and every call already speaking gets its next audio late: at 50 calls dialing in the
same instant, gaps of 60-120 ms (``bench/concurrency.py``).

``CallSetups`` lets at most ``CONCURRENT_SETUPS`` calls set up at once, and a set-up starts only
once the loop is keeping up: one pass of the event loop (an ``await asyncio.sleep(0)``, which
returns after everything else ready to run has run) must take under ``BUSY_PASS_S``. Under a spike
the last calls answer later instead of everyone's audio stuttering; a set-up never waits more than
``MAX_WAIT_S`` for the loop, so a process that is simply loaded still takes calls. A call's end
(its record, events, webhooks and analysis queued: ~15 ms of CPU) takes a slot the same way: calls
that end together otherwise hold up the calls still speaking just as calls that start together do.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field

CONCURRENT_SETUPS = 1
BUSY_PASS_S = 0.004
RECHECK_S = 0.01
MAX_WAIT_S = 5.0


async def loop_pass_s() -> float:
    """How long the event loop takes to come back to us: the work queued ahead of us."""
    started = time.perf_counter()
    await asyncio.sleep(0)
    return time.perf_counter() - started


@dataclass
class CallSetups:
    concurrent: int = CONCURRENT_SETUPS
    busy_pass_s: float = BUSY_PASS_S
    max_wait_s: float = MAX_WAIT_S
    _slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    async def admit(self) -> SetupSlot:
        """Wait for a set-up slot and for the loop to have room; release the slot once set up."""
        if self._slots is None:  # made on first use, on the loop that serves the calls
            self._slots = asyncio.Semaphore(self.concurrent)
        await self._slots.acquire()
        slot = SetupSlot(self._slots)
        try:
            deadline = time.monotonic() + self.max_wait_s
            # A poll, not an event: "the loop has room" is only seen by measuring it.
            while time.monotonic() < deadline:
                if await loop_pass_s() <= self.busy_pass_s:
                    break
                await asyncio.sleep(RECHECK_S)
        except BaseException:
            slot.release()
            raise
        return slot


class SetupSlot:
    """A call's set-up slot: released once, when the call is set up or has ended, whichever is first."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots: asyncio.Semaphore | None = slots

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()
            self._slots = None


_PER_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CallSetups] = weakref.WeakKeyDictionary()


def call_setups() -> CallSetups:
    """The running loop's gate: the calls a process serves share one loop, and so one gate."""
    loop = asyncio.get_running_loop()
    if loop not in _PER_LOOP:
        _PER_LOOP[loop] = CallSetups()
    return _PER_LOOP[loop]
