"""The concurrency bound (``_slots.Slots``), driven directly: order, hand-over, closing."""

from __future__ import annotations

import asyncio

import pytest

from ddllmobs_async._slots import Slots


async def holder(slots: Slots, order: list[str], name: str, *, first: bool = False) -> None:
    async with slots.held(first=first):
        order.append(name)
        await asyncio.sleep(0.01)


async def test_waiters_are_served_in_order_and_a_retry_first() -> None:
    slots = Slots(1)
    order: list[str] = []
    async with asyncio.TaskGroup() as group:
        group.create_task(holder(slots, order, "a"))
        await asyncio.sleep(0)
        for name in ("b", "c"):
            group.create_task(holder(slots, order, name))
        await asyncio.sleep(0)
        group.create_task(holder(slots, order, "retry", first=True))
    assert order == ["a", "retry", "b", "c"]


async def test_a_slot_handed_to_a_waiter_cancelled_before_it_ran_passes_on() -> None:
    # We hold the only slot; B and C wait. We leave, handing the slot to B, and B is cancelled
    # before it resumes: the slot must go to C, not be lost.
    slots = Slots(1)
    held = slots.held()
    await held.__aenter__()

    async def waiter() -> None:
        async with slots.held():
            pass

    b, c = asyncio.create_task(waiter()), asyncio.create_task(waiter())
    await asyncio.sleep(0)
    await held.__aexit__(None, None, None)  # hands the slot to B, without a loop turn
    b.cancel()
    await asyncio.wait_for(c, 0.5)
    with pytest.raises(asyncio.CancelledError):
        await b
    async with asyncio.timeout(0.5), slots.held():  # and C gave it back
        pass


async def test_close_fails_the_waiters_and_the_slots_still_work() -> None:
    slots = Slots(1)
    leave = asyncio.Event()

    async def first_holder() -> None:
        async with slots.held():
            await leave.wait()

    holder_task = asyncio.create_task(first_holder())
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(holder(slots, [], str(n))) for n in range(3)]
    await asyncio.sleep(0)
    slots.close(lambda: RuntimeError("closed"))
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert [type(o) for o in outcomes] == [RuntimeError] * 3
    leave.set()
    await holder_task
    async with asyncio.timeout(0.5), slots.held():  # the slot came back
        pass
