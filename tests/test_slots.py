"""The concurrency bound (``_slots.Slots``), driven directly: order, hand-over, closing."""

from __future__ import annotations

import asyncio

import pytest

from ddllmobs_async._slots import Slots


async def take_and_leave(slots: Slots) -> None:
    async with slots.held():
        pass


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

    b, c = asyncio.create_task(take_and_leave(slots)), asyncio.create_task(take_and_leave(slots))
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


async def peak_holders(slots: Slots, users: int = 5) -> int:
    """The most holders at once when ``users`` tasks each hold a slot briefly."""
    inside = peak = 0

    async def user() -> None:
        nonlocal inside, peak
        async with slots.held():
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.005)
            inside -= 1

    async with asyncio.timeout(2), asyncio.TaskGroup() as group:
        for _ in range(users):
            group.create_task(user())
    return peak


@pytest.mark.parametrize("how", ["cancelled while waiting", "failed by close, then cancelled"])
async def test_a_waiter_that_never_got_a_slot_adds_none(how: str) -> None:
    slots = Slots(1)
    held = slots.held()
    await held.__aenter__()

    task = asyncio.create_task(take_and_leave(slots))
    await asyncio.sleep(0)
    if how != "cancelled while waiting":
        slots.close(lambda: RuntimeError("closed"))  # fails it; it has not resumed yet
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await held.__aexit__(None, None, None)
    assert await peak_holders(slots) == 1
