"""Giving the event loop back between the steps of long CPU work (a page's models)."""

from __future__ import annotations

import asyncio

# Through the timer queue, not ``asyncio.sleep(0)``: sleep(0) puts this task straight back in
# the loop's ready queue, ahead of every task that a socket or a timer wakes meanwhile (their
# wake-up takes one more loop iteration: callback, then their step), so two of our steps ran
# back to back before any other task had a turn. Measured with a heartbeat task on 50,000
# spans in pages of 1000: each stall held the decode and two structuring steps (27 ms); with
# this, one of them. A timer already due costs no wait: the loop runs it in its next pass.
_TURN_SECONDS = 1e-6


async def let_others_run() -> None:
    """Suspend until the tasks that a socket or a timer woke meanwhile have had their turn."""
    await asyncio.sleep(_TURN_SECONDS)
