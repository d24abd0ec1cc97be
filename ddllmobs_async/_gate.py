"""The rate-limit gate: one per endpoint of a client, so every request to an endpoint shares
what any answer from it taught (Datadog limits each endpoint separately, ``X-RateLimit-Name``).

What a request waits for at the gate always has a known end:

* **A known window** (``remaining`` and ``reset`` from ``X-RateLimit-*``, or a 429's wait):
  each request takes one unit of the window's budget; with none left it waits for the
  window's end. When the window ends, a known ``limit`` and ``period`` refill it and the next
  window's end is known too; otherwise the gate forgets the window and probes.
* **No known window** (cold start, a server without rate-limit headers): at most
  ``allowance`` requests in flight. The allowance starts at one (a probe) and doubles with
  every answer that is not a 429; a waiting request waits for an answer of a request in
  flight, which ends within one attempt. A probe that gets no answer opens the gate; one
  whose caller gave up (cancelled) hands the probe to the next in line.
* **A 429** closes the gate for everyone until its reset (``X-RateLimit-Reset`` or
  ``Retry-After``; for a second when it says neither). Without a known limit, the gate
  learns the pace from what the server accepted before the 429 (that many requests per
  hold), adding one per clean window.

A wait longer than ``max_wait`` fails at once (:class:`WaitTooLong`), and such a far reset is
trusted for ``max_wait`` only: after that the gate lets a probe through. Requests are served
first come, first served; a retry goes to the front of the queue.

A :class:`Grant` names the window it was charged to: a request that waits for a concurrency
slot after passing the gate asks :meth:`RateLimitGate.current` once it has one, and is charged
again when that window has ended meanwhile (else slow calls holding every slot would let a
pile of grants out into one window): at once when the current window has room
(:meth:`RateLimitGate.take_now`), else it gives the slot back and queues again, first.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import NamedTuple

from ddllmobs_async._ratelimit import RateLimitInfo, Reading, info_of, read_headers, server_wait

_UNLIMITED = 1 << 30
# Answers whose window ends this close to the known end are read as the same window (the
# time an answer spends in transit makes its reset look a little later than it is).
_SAME_WINDOW_SLACK = 0.05
# A learned window is never shorter than this (a "Retry-After: 0" teaches no pace).
_MIN_LEARNED_PERIOD = 0.1
# How long a 429 that says nothing about when (no reset, no Retry-After) holds the endpoint,
# at most max_wait: Datadog's windows are whole seconds. Halving the requests in flight
# instead cannot pace a rate: a server answering in a millisecond gets a thousand a second
# from one request in flight.
_SILENT_429_HOLD = 1.0


class WaitTooLong(Exception):
    """The gate would hold a request longer than the caller accepts."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the rate-limit window resets in {seconds:.1f}s")
        self.seconds = seconds


class Grant(NamedTuple):
    """A pass through the gate: seconds waited for it, and the window it was charged to."""

    waited: float
    window: int


class RateLimitGate:
    """Holds requests while the API's rate limit says so; see the module docstring."""

    def __init__(self, *, max_wait: float) -> None:
        self._max_wait = max_wait
        self._waiters: deque[asyncio.Future[int]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._budget = 0  # requests left in the known window
        self._reset_at: float | None = None  # loop time the known window ends; None: no window
        self._window_started = -math.inf  # loop time the known window began
        self._reset_is_bound = True  # reset_at came from an answer (else: rolled over by us)
        self._trust_until = math.inf  # a reset further than max_wait is believed until then
        self._limit: int | None = None  # requests per window (from headers, or learned)
        self._period: float | None = None
        self._learned = False  # limit and period learned from answers, not headers
        self._throttled = False  # a 429 closed the current window
        self._allowance = 1  # without a known window: requests allowed in flight
        self._in_flight = 0
        self._accepted = 0  # answers that were not 429s, since the window began
        self._latest: Reading | None = None
        self._window = 0  # number of the window grants are charged to; changes with it

    @property
    def latest(self) -> RateLimitInfo | None:
        """What the most recent answer with ``X-RateLimit-*`` headers said (reset as of then)."""
        return None if self._latest is None else info_of(self._latest)

    async def acquire(self, *, first: bool = False) -> Grant:
        """Wait until a request may be sent and take its unit of the window (or its place in
        flight); return the :class:`Grant`.

        ``first`` puts the request at the front of the queue (a retry has waited already).

        Raises:
            WaitTooLong: The known window ends further away than ``max_wait``.
        """
        started = _now()
        if not self._waiters:
            wait = self._take(started)
            if wait == 0.0:
                return Grant(0.0, self._window)
            if wait is not None and wait > self._max_wait:
                raise WaitTooLong(wait)
        waiter = asyncio.get_running_loop().create_future()
        if first:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        self._dispatch()
        try:
            window = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # granted just before the cancellation arrived
                self.release(Grant(0.0, waiter.result()), sent=False)
            raise
        return Grant(_now() - started, window)

    def take_now(self) -> Grant | None:
        """Charge the current window now, ahead of the queue, or ``None`` when that needs a
        wait (for a grant whose window ended while its request waited for a slot)."""
        now = _now()
        return Grant(0.0, self._window) if self._take(now) == 0.0 else None

    def current(self, grant: Grant) -> bool:
        """Whether ``grant``'s window is still the one requests are charged to."""
        self._roll(_now())
        return grant.window == self._window

    def observe(
        self, headers: Mapping[str, str], *, status: int, sent_at: float | None = None
    ) -> Reading | None:
        """Learn from the answer to a request that passed the gate (sent at ``sent_at``);
        return what its ``X-RateLimit-*`` headers said, if anything."""
        now = _now()
        self._in_flight = max(0, self._in_flight - 1)
        reading = read_headers(headers)
        if reading is not None:
            self._latest = reading
            if reading.limit is not None:
                self._limit, self._learned = reading.limit, False
            if reading.period is not None:
                self._period = reading.period
        if status == 429:
            self._on_429(now, server_wait(headers))
        else:
            self._on_accepted(now, reading, now if sent_at is None else sent_at)
        self._dispatch()
        return reading

    def abandon(self) -> None:
        """A request that was sent got no answer (timeout, dropped connection)."""
        self._in_flight = max(0, self._in_flight - 1)
        if self._reset_at is None:
            # A probe that gets no answer must not hold the others back any longer.
            self._allowance = _UNLIMITED
        self._dispatch()

    def release(self, grant: Grant, *, sent: bool) -> None:
        """A request that passed the gate ends without an answer because its caller gave up
        (cancelled, or the client closed) or it is charged again: its place goes to the next
        in line, and one never sent gives its unit back to its window, if still current."""
        self._in_flight = max(0, self._in_flight - 1)
        if not sent and self._reset_at is not None and self.current(grant):
            self._budget += 1
        self._dispatch()

    def reset_loop(self) -> None:
        """Drop what belongs to an event loop that is gone (timer, waiters, requests in flight)."""
        self.close()
        self._waiters.clear()
        self._in_flight = 0

    def close(self, error: Callable[[], Exception] | None = None) -> None:
        """Cancel the wake-up timer, if any: nothing of the gate stays scheduled. With
        ``error``, the requests waiting for their turn fail, each with a new ``error()``."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if error is not None:
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(error())

    # --- state changes ----------------------------------------------------------------

    def _on_accepted(self, now: float, reading: Reading | None, sent_at: float) -> None:
        self._accepted += 1
        if self._reset_at is None:
            self._allowance = min(self._allowance * 2, _UNLIMITED)
        if reading is None or reading.reset is None or reading.remaining is None:
            return
        latest, earliest = _reset_bounds(now, reading.reset)
        if self._reset_at is None or earliest > self._reset_at + _SAME_WINDOW_SLACK:
            self._open_window(now, latest, reading.remaining)  # a newer window
        elif sent_at >= self._window_started:  # the current window
            self._budget = min(self._budget, reading.remaining)
            # A window we rolled over ourselves is an estimate; answers bound it from above.
            bounded = self._reset_is_bound
            self._reset_at = min(self._reset_at, latest) if bounded else latest
            self._reset_is_bound = True
        # else: a late answer from an older window; it teaches nothing.

    def _on_429(self, now: float, wait: float | None) -> None:
        if wait is None:
            self._on_silent_429(now)
            return
        if not self._throttled and (self._limit is None or self._learned):
            self._limit = max(1, self._accepted)
            self._period = max(wait, _MIN_LEARNED_PERIOD)
            self._learned = True
        self._throttled = True
        # A 429's reset is the server's latest word on this window: it replaces what we knew.
        self._open_window(now, now + wait, 0)

    def _on_silent_429(self, now: float) -> None:
        """A 429 that says nothing about when: the window we know is spent until its end (a
        learned pace drops back to what was accepted in it); with none, hold for a second
        and learn the pace, as for a ``Retry-After``."""
        if self._reset_at is None or now >= self._reset_at or self._period is None:
            self._on_429(now, min(_SILENT_429_HOLD, self._max_wait))
            return
        if self._learned and not self._throttled:
            self._limit = max(1, self._accepted)
        self._throttled = True
        self._open_window(now, self._reset_at, 0)

    def _open_window(self, now: float, reset_at: float, budget: int) -> None:
        self._window += 1
        self._window_started = now
        self._reset_is_bound = True
        self._reset_at = reset_at
        self._budget = budget
        far = reset_at - now > self._max_wait
        self._trust_until = now + self._max_wait if far else math.inf

    def _roll(self, now: float) -> None:
        """Move past a window that has ended: refill it when its size is known, else probe."""
        if self._reset_at is None:
            return
        if now < self._reset_at:
            if now >= self._trust_until:  # a far end, believed for max_wait only
                self._forget_window()
            return
        if self._limit is None or self._period is None:
            self._forget_window()
            return
        if self._learned and not self._throttled:
            self._limit += 1  # a clean learned window: try a little faster
        self._window += 1
        windows_passed = math.floor((now - self._reset_at) / self._period) + 1
        self._window_started = self._reset_at + (windows_passed - 1) * self._period
        self._reset_at += windows_passed * self._period
        self._reset_is_bound = False
        far = self._reset_at - now > self._max_wait
        self._trust_until = now + self._max_wait if far else math.inf
        self._budget = self._limit
        self._throttled = False
        self._accepted = 0

    def _forget_window(self) -> None:
        self._window += 1
        self._reset_at = None
        self._budget = 0
        self._trust_until = math.inf
        self._throttled = False
        self._allowance = 1
        self._accepted = 0

    # --- handing out slots ------------------------------------------------------------

    def _take(self, now: float) -> float | None:
        """Take a slot (``0.0``), or say what to wait for: seconds to the window's end, or
        ``None`` for an answer to a request in flight."""
        self._roll(now)
        if self._reset_at is not None:
            if self._budget > 0:
                self._budget -= 1
                self._in_flight += 1
                return 0.0
            return max(self._reset_at - now, 1e-6)
        if self._in_flight < self._allowance:
            self._in_flight += 1
            return 0.0
        return None

    def _dispatch(self) -> None:
        """Serve waiting requests in order while slots are free; schedule the next look.

        It also runs from a timer, where an exception would only be logged: a failure fails
        the waiting calls instead of leaving them asleep.
        """
        try:
            self._serve_waiters()
        except Exception as error:
            self._forget_window()
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(error)

    def _serve_waiters(self) -> None:
        if not self._waiters:
            return
        now = _now()
        while self._waiters:
            waiter = self._waiters[0]
            if waiter.done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            wait = self._take(now)
            if wait == 0.0:
                self._waiters.popleft().set_result(self._window)
            elif wait is not None and wait > self._max_wait:
                self._waiters.popleft().set_exception(WaitTooLong(wait))
            else:
                if wait is not None:
                    self._wake_at(now + wait)
                return

    def _wake_at(self, when: float) -> None:
        if self._timer is not None:
            if self._timer.when() == when:
                return
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._dispatch)


def _reset_bounds(now: float, reset: float) -> tuple[float, float]:
    """When a window ends, at the latest and at the earliest: Datadog rounds its reset up to
    whole seconds, so an integer ``reset`` means "within the second before"."""
    latest = now + reset
    return latest, latest - 1.0 if reset >= 1.0 and reset.is_integer() else latest


def _now() -> float:
    return asyncio.get_running_loop().time()
