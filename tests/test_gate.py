"""The rate-limit gate, driven directly: what it lets out, and that every wait has an end."""

from __future__ import annotations

import asyncio

import pytest
from multidict import CIMultiDict

from ddllmobs_async._gate import Grant, RateLimitGate, WaitTooLong
from tests.fake_http import window_headers


async def held(gate: RateLimitGate, *, first: bool = False) -> asyncio.Task[Grant]:
    """An ``acquire`` started in the background, checked to be waiting."""
    task = asyncio.create_task(gate.acquire(first=first))
    await asyncio.sleep(0)
    assert not task.done()
    return task


async def test_cold_gate_lets_one_probe_out_until_the_first_answer() -> None:
    gate = RateLimitGate(max_wait=60)
    assert (await gate.acquire()).waited == 0.0
    second = await held(gate)
    gate.observe(window_headers(limit=5, period=1, remaining=4, reset=1.0), status=200)
    await asyncio.wait_for(second, 1)


async def test_known_budget_is_spent_then_requests_wait_for_the_reset() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    gate.observe(window_headers(limit=3, period=0.2, remaining=2, reset=0.2), status=200)
    assert (await gate.acquire()).waited == 0.0
    assert (await gate.acquire()).waited == 0.0
    # spent: held until the window resets
    waited = (await asyncio.wait_for(gate.acquire(), 1)).waited
    assert 0.1 < waited < 0.5
    # the next window's limit applies, and its end is known: no wedge without answers
    assert (await gate.acquire()).waited == 0.0
    assert (await gate.acquire()).waited == 0.0
    assert 0.05 < (await asyncio.wait_for(gate.acquire(), 1)).waited < 0.5


async def test_answers_without_headers_never_leave_a_drained_window_without_an_end() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    gate.observe(window_headers(limit=2, remaining=1, reset=0.2), status=200)  # no period
    await gate.acquire()
    gate.observe({}, status=502)  # a gateway's answer: no headers
    # drained, with a known end: after it the gate forgets the window and probes
    assert (await asyncio.wait_for(gate.acquire(), 1)).waited > 0.1
    gate.observe({}, status=502)
    assert (await asyncio.wait_for(gate.acquire(), 1)).waited == 0.0


async def test_a_200_with_nothing_remaining_closes_the_gate_until_its_reset() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    gate.observe(window_headers(limit=10, period=10, remaining=0, reset=0.3), status=200)
    waited = (await asyncio.wait_for(gate.acquire(), 2)).waited
    assert waited > 0.25


async def test_a_429_closes_the_gate_for_everyone_until_reset() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    gate.observe(window_headers(limit=100, period=10, remaining=50, reset=5.0), status=200)
    gate.observe(window_headers(limit=100, period=10, remaining=0, reset=0.2), status=429)
    # the 429's reset is the latest word
    waited = (await asyncio.wait_for(gate.acquire(), 1)).waited
    assert 0.15 < waited < 0.5


async def test_a_retry_after_429_holds_everyone_then_lets_the_learned_pace_through() -> None:
    gate = RateLimitGate(max_wait=60)
    for _ in range(3):  # three accepted, then the server says "come back in 0.2 s"
        await gate.acquire()
        gate.observe({}, status=200)
    await gate.acquire()
    gate.observe(CIMultiDict({"Retry-After": "0.2"}), status=429)
    waiters = [asyncio.create_task(gate.acquire()) for _ in range(5)]
    await asyncio.sleep(0.1)
    assert not any(w.done() for w in waiters)  # held, all of them
    await asyncio.sleep(0.15)
    assert sum(w.done() for w in waiters) == 3  # reopened at the pace the server accepted
    await asyncio.wait_for(asyncio.gather(*waiters), 1)


async def test_a_reset_beyond_max_wait_fails_at_once_then_is_probed_again() -> None:
    gate = RateLimitGate(max_wait=0.2)
    await gate.acquire()
    gate.observe(window_headers(limit=10, remaining=0, reset=9e8), status=200)
    with pytest.raises(WaitTooLong):
        await gate.acquire()
    await asyncio.sleep(0.25)  # trusted for max_wait only
    assert (await gate.acquire()).waited == 0.0  # a probe goes out


async def test_a_429_beyond_max_wait_fails_the_requests_already_waiting() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()  # the probe
    waiting = [await held(gate) for _ in range(3)]
    gate.observe(CIMultiDict({"Retry-After": "3600"}), status=429)
    for task in waiting:
        with pytest.raises(WaitTooLong):
            await asyncio.wait_for(task, 1)


async def test_answers_grow_the_allowance_of_a_server_without_headers() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    gate.observe({}, status=200)  # allowance 2
    await gate.acquire()
    await gate.acquire()
    third = await held(gate)
    gate.observe({}, status=200)  # allowance 4, one in flight
    await asyncio.wait_for(third, 1)
    for _ in range(2):
        assert (await gate.acquire()).waited == 0.0


async def soon(gate: RateLimitGate) -> float:
    """Seconds an ``acquire`` waited (failing rather than hanging past a second)."""
    return (await asyncio.wait_for(gate.acquire(), 1)).waited


async def silent_429_after(gate: RateLimitGate, accepted: int) -> None:
    """``accepted`` answers from a server without headers, then a 429 that says nothing."""
    for _ in range(accepted):
        await soon(gate)
        gate.observe({}, status=200)
    await soon(gate)
    gate.observe({}, status=429)


async def test_a_429_that_says_nothing_holds_a_cold_gate_and_teaches_the_pace() -> None:
    # No reset, no Retry-After: the endpoint is held for a second (here max_wait, 0.3 s) for
    # every request, and then goes at the pace accepted before the 429, per hold.
    gate = RateLimitGate(max_wait=0.3)
    await silent_429_after(gate, accepted=3)
    assert 0.25 < await soon(gate) < 0.6
    for _ in range(2):  # three accepted per hold: this window's other two go at once
        assert await soon(gate) == 0.0
    assert await soon(gate) > 0.2


async def test_a_429_that_says_nothing_spends_a_learned_window_without_extending_it() -> None:
    # A learned pace of 3 per 0.3 s grew to 4 after a clean window; a silent 429 on the
    # fourth request, halfway through the window, spends it until its end (not for a new
    # hold from now) and the pace drops back to the 3 accepted in it.
    gate = RateLimitGate(max_wait=0.3)
    await silent_429_after(gate, accepted=3)  # learned: 3 per 0.3 s
    for _ in range(3):  # the first waits for the hold to end
        await soon(gate)
    await soon(gate)  # a clean window: now 4 per window
    for _ in range(3):
        assert await soon(gate) == 0.0
    for _ in range(3):
        gate.observe({}, status=200)
    await asyncio.sleep(0.15)
    gate.observe({}, status=429)
    held_for = await soon(gate)
    assert 0.05 < held_for < 0.25  # to the window's end, about 0.15 s away
    for _ in range(2):
        assert await soon(gate) == 0.0
    assert await soon(gate) > 0.2  # 3 per window again


async def test_an_abandoned_probe_opens_the_gate() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    waiting = [await held(gate) for _ in range(5)]
    gate.abandon()
    await asyncio.wait_for(asyncio.gather(*waiting), 1)


async def test_waiters_are_served_in_order_and_a_retry_goes_first() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    gate.observe(window_headers(limit=1, period=0.1, remaining=0, reset=0.1), status=200)
    order: list[str] = []

    async def one(name: str, *, first: bool = False) -> None:
        await gate.acquire(first=first)
        order.append(name)

    tasks = [asyncio.create_task(one(name)) for name in "abc"]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(one("retry", first=True)))
    await asyncio.wait_for(asyncio.gather(*tasks), 2)
    assert order == ["retry", "a", "b", "c"]


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    first = await held(gate)
    second = await held(gate)
    first.cancel()
    gate.observe({}, status=200)
    await asyncio.wait_for(second, 1)
    assert first.cancelled()


async def test_late_answer_from_an_older_window_is_ignored() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    gate.observe(window_headers(limit=10, period=10, remaining=9, reset=10.0), status=200)
    sent_before_this_window = asyncio.get_running_loop().time() - 1
    gate.observe(
        window_headers(limit=10, period=10, remaining=0, reset=0.5),
        status=200,
        sent_at=sent_before_this_window,
    )
    for _ in range(9):
        assert (await gate.acquire()).waited == 0.0
    gate.close()


class _BrokenGate(RateLimitGate):
    """A gate whose window arithmetic fails once a window is known (a bug stand-in)."""

    def _take(self, now: float) -> float | None:
        if self._reset_at is not None:
            raise OverflowError("window arithmetic")
        return super()._take(now)


async def test_a_failure_while_serving_waiters_fails_them_instead_of_leaving_them_asleep() -> None:
    gate = _BrokenGate(max_wait=60)
    await gate.acquire()
    waiting = [await held(gate) for _ in range(2)]
    gate.observe(window_headers(limit=3, period=1, remaining=2, reset=1.0), status=200)
    for task in waiting:
        with pytest.raises(OverflowError):
            await asyncio.wait_for(task, 1)
    # the window was forgotten: a probe
    assert (await asyncio.wait_for(gate.acquire(), 1)).waited == 0.0
