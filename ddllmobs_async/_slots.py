"""The concurrency bound: at most ``size`` attempts in flight, shared by every endpoint.

A semaphore whose queue a retry may enter at the front (``asyncio.Semaphore`` only queues at
the back, so a retry used to wait behind every call that had not started yet).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class Slots:
    """``size`` slots handed out first come, first served, a retry first of all."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def held(self, *, first: bool = False) -> AsyncIterator[None]:
        """Hold a slot for the block; ``first`` queues at the front (a retry)."""
        await self._acquire(first=first)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, *, first: bool) -> None:
        if self._free > 0:  # then nobody waits: a freed slot goes to a waiter, if any
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        if first:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release()  # handed over just before the cancellation arrived
            raise

    def close(self, error: Callable[[], Exception]) -> None:
        """Fail every request waiting for a slot, each with a new ``error()`` (the client is
        closing: they must not wait for the attempts in flight)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error())

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # else: cancelled while waiting
                waiter.set_result(None)
                return
        self._free += 1
