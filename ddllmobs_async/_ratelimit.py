"""Rate limits: pure parsing of Datadog's ``X-RateLimit-*`` headers, and the per-client gate.

The gate is what keeps a busy client from hammering the API. It learns the current window's
budget from every response and, while that budget is known, lets at most that many new
requests out; the rest wait for the reset. A 429 closes it for everyone until the reset.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Awaitable, Callable, Mapping

import attrs

# A reset above this is a Unix timestamp, not a number of seconds (2001-09-09 in seconds).
_EPOCH_SECONDS_THRESHOLD = 1e9
_EPOCH_MILLIS_THRESHOLD = 1e12
# While no response has told us the window's end, held requests look again this often.
_UNKNOWN_RESET_POLL = 0.05
# _try_take's answer when a cold-start probe is in flight: wait for its answer, not a delay.
_AFTER_PROBE = -1.0


@attrs.frozen(kw_only=True)
class RateLimitInfo:
    """The rate-limit state Datadog reported on a response (``X-RateLimit-*`` headers).

    Attributes:
        limit: Requests allowed per window.
        period: Window length in seconds.
        remaining: Requests left in the current window.
        reset: Seconds until the window resets (an epoch timestamp in the header is
            converted to seconds from now).
        name: Name of the limit, e.g. ``llm_obs_experiments``.
    """

    limit: int | None = None
    period: float | None = None
    remaining: int | None = None
    reset: float | None = None
    name: str | None = None


def parse_rate_limit(
    headers: Mapping[str, str], *, now: float | None = None
) -> RateLimitInfo | None:
    """Parse ``X-RateLimit-*`` headers (any case); ``None`` when none is present.

    ``headers`` must be case-insensitive (aiohttp's are) or already lower-cased.
    """
    reading = _read(headers, now)
    return None if reading is None else _info(reading)


# (limit, period, remaining, seconds until reset, name): what one answer's headers said.
_Reading = tuple[int | None, float | None, int | None, float | None, str | None]


def _read(headers: Mapping[str, str], now: float | None = None) -> _Reading | None:
    limit = _number(headers.get("x-ratelimit-limit"))
    period = _number(headers.get("x-ratelimit-period"))
    remaining = _number(headers.get("x-ratelimit-remaining"))
    reset = _number(headers.get("x-ratelimit-reset"))
    if limit is None and period is None and remaining is None and reset is None:
        return None
    return (
        None if limit is None else int(limit),
        period,
        None if remaining is None else max(0, int(remaining)),
        None if reset is None else seconds_until_reset(reset, now=now),
        headers.get("x-ratelimit-name"),
    )


def _info(reading: _Reading) -> RateLimitInfo:
    limit, period, remaining, reset, name = reading
    return RateLimitInfo(limit=limit, period=period, remaining=remaining, reset=reset, name=name)


def seconds_until_reset(value: float, *, now: float | None = None) -> float:
    """Read ``X-RateLimit-Reset`` as seconds from now; clearly-epoch values count as epochs."""
    if value <= 0.0:
        return 0.0
    if value < _EPOCH_SECONDS_THRESHOLD:
        return value
    wall = time.time() if now is None else now
    epoch = value / 1000.0 if value >= _EPOCH_MILLIS_THRESHOLD else value
    return max(0.0, epoch - wall)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); ``None`` if absent/invalid."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    wall = time.time() if now is None else now
    return max(0.0, when.timestamp() - wall)


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)  # surrounding whitespace is accepted
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class WaitTooLong(Exception):
    """The gate would hold a request longer than the caller accepts."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the rate-limit window resets in {seconds:.1f}s")
        self.seconds = seconds


class RateLimitGate:
    """One per client: shares what any response taught about the rate limit with every request.

    * Cold start: until the first response arrives, only one request is let out, so a burst
      of thousands does not discover the limit by collecting thousands of 429s.
    * Known window: at most ``remaining`` new requests go out before the reset (a local count,
      spent as each request is sent); the rest are held until the reset, after which the
      window's ``limit`` applies again.
    * A 429 closes the gate for every request until its reset.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._budget: int | None = None  # None: no known budget, let requests through
        self._reset_at: float | None = None  # clock time the current window ends
        self._limit: int | None = None
        self._warmed = False
        self._probe_in_flight = False
        self._probe_done: asyncio.Event | None = None
        self._latest: _Reading | None = None

    async def acquire(self, max_wait: float = math.inf) -> float:
        """Wait until a request may be sent, spend one unit of budget; return seconds waited.

        Raises:
            WaitTooLong: The window resets further away than ``max_wait`` seconds.
        """
        started = self._clock()
        while True:
            delay = self._try_take()
            if delay == 0.0:
                return self._clock() - started
            if self._reset_at is not None and delay > max_wait:
                raise WaitTooLong(delay)
            if delay == _AFTER_PROBE and self._probe_done is not None:
                # Woken the moment the probe is answered: polling would hold a cold burst
                # for a whole poll interval even when the first answer takes a millisecond.
                await self._probe_done.wait()
                continue
            await self._sleep(delay)

    def try_acquire(self) -> bool:
        """Spend one unit of budget if a request may be sent right now, without waiting.

        On ``False`` nothing was spent: the caller waits in :meth:`acquire` instead.
        """
        return self._try_take() == 0.0

    def _try_take(self) -> float:
        """Take a slot now (returns 0.0) or say how long to wait before looking again."""
        now = self._clock()
        if not self._warmed:
            if self._probe_in_flight:
                return _AFTER_PROBE
            self._probe_in_flight = True
            self._probe_done = asyncio.Event()
            return 0.0
        if self._reset_at is not None and now >= self._reset_at:
            self._budget = self._limit
            self._reset_at = None
        if self._budget is None:
            return 0.0
        if self._budget > 0:
            self._budget -= 1
            return 0.0
        if self._reset_at is None:
            return _UNKNOWN_RESET_POLL
        return max(self._reset_at - now, 0.001)

    @property
    def latest(self) -> RateLimitInfo | None:
        """What the most recent answer with ``X-RateLimit-*`` headers said (``reset`` as of then).

        Built when asked: every answer updates the gate, few callers ever read this.
        """
        return None if self._latest is None else _info(self._latest)

    def observe(self, headers: Mapping[str, str], *, status: int | None) -> None:
        """Learn from one finished attempt's response headers (case-insensitive or lower-case)."""
        self._warmed = True
        self._end_probe()
        reading = _read(headers)
        if reading is None:
            return
        self._latest = reading
        limit, period, remaining, reset, _name = reading
        if limit is not None:
            self._limit = limit
        if reset is None:
            return
        reset_at = self._clock() + reset
        if status == 429:
            self._close_until(reset_at)
            return
        if remaining is None:
            return
        tolerance = min(1.0, (period or 2.0) / 2)
        if self._reset_at is None or reset_at > self._reset_at + tolerance:
            self._reset_at = reset_at  # a newer window than the one we knew
            self._budget = remaining
        elif reset_at >= self._reset_at - tolerance:
            self._budget = remaining if self._budget is None else min(self._budget, remaining)
        # else: a late answer from an older window; it teaches nothing.

    def abandon(self) -> None:
        """An attempt ended without any answer: give its slot back, let the next probe go.

        Without the refund, a window whose whole budget went to attempts that were cancelled
        or dropped would leave the gate waiting forever for an answer that never comes.
        """
        if self._budget is not None:
            self._budget += 1
        self._end_probe()

    def _end_probe(self) -> None:
        self._probe_in_flight = False
        if self._probe_done is not None:
            self._probe_done.set()
            self._probe_done = None

    def hold(self, seconds: float) -> None:
        """Hold every request for ``seconds``, e.g. after a 429 that only sent Retry-After."""
        self._close_until(self._clock() + seconds)

    def _close_until(self, reset_at: float) -> None:
        # A 429's reset is the server's latest word on this window: it replaces what we knew.
        self._budget = 0
        self._reset_at = reset_at
