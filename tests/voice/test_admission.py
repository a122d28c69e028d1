"""A call sets up when the calls already on the line can spare the loop, a couple at a time."""

from __future__ import annotations

import asyncio
import time

from bvrai.voice.admission import CallSetups


async def test_a_third_call_waits_for_one_of_two_set_ups_to_finish():
    setups = CallSetups(concurrent=2)
    first, second = await setups.admit(), await setups.admit()
    third = asyncio.create_task(setups.admit())
    await asyncio.sleep(0.05)
    assert not third.done()
    first.release()
    first.release()  # a slot is given back once, however often a call says so
    slot = await asyncio.wait_for(third, 1)
    fourth = asyncio.create_task(setups.admit())
    await asyncio.sleep(0.05)
    assert not fourth.done()  # the double release freed no extra slot
    second.release()
    (await asyncio.wait_for(fourth, 1)).release()
    slot.release()


async def busy_loop(until: float) -> None:
    """Calls already on the line: work that keeps the loop busy in 10 ms pieces."""
    while time.monotonic() < until:
        time.sleep(0.01)  # noqa: ASYNC251 - one piece of audio work, blocking the loop as CPU work does
        await asyncio.sleep(0)


async def test_a_set_up_waits_while_the_loop_is_busy_and_starts_once_it_has_room():
    setups = CallSetups(max_wait_s=5)
    busy_until = time.monotonic() + 0.4
    hog = asyncio.create_task(busy_loop(busy_until))
    await asyncio.sleep(0)
    slot = await setups.admit()
    assert time.monotonic() >= busy_until - 0.02
    slot.release()
    await hog


async def test_a_loaded_process_still_takes_the_call_after_the_longest_wait():
    setups = CallSetups(max_wait_s=0.2)
    hog = asyncio.create_task(busy_loop(time.monotonic() + 2))
    await asyncio.sleep(0)
    started = time.monotonic()
    slot = await setups.admit()
    assert 0.18 <= time.monotonic() - started < 1.0
    slot.release()
    hog.cancel()
