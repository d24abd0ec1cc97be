"""A fixed-window rate limiter that produces Datadog's ``x-ratelimit-*`` headers."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import attrs

NOMINAL_LIMIT = (1_000_000, 60.0)


def format_seconds(value: float) -> str:
    """Format a number of seconds without a needless fraction (``"10"``, ``"0.25"``)."""
    if value == int(value):
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def ratelimit_headers(
    *, limit: int, period: float, remaining: int, reset: float, name: str
) -> dict[str, str]:
    """Return the lower-case ``x-ratelimit-*`` headers Datadog sends on every response."""
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-period": format_seconds(period),
        "x-ratelimit-remaining": str(max(remaining, 0)),
        "x-ratelimit-reset": format_seconds(reset),
        "x-ratelimit-name": name,
    }


@attrs.frozen
class Decision:
    """Whether a request may proceed, and the headers describing the window."""

    allowed: bool
    headers: dict[str, str]


@attrs.define
class FixedWindowLimiter:
    """Allow ``limit`` requests per window of ``period`` seconds.

    A window opens with the first request after the previous one ended. When ``enforce``
    is false the headers are still produced but every request is allowed.
    """

    name: str
    limit: int
    period: float
    enforce: bool = True
    integer_reset: bool = True
    clock: Callable[[], float] = time.monotonic
    _window_end: float = attrs.field(default=-math.inf, init=False)
    _count: int = attrs.field(default=0, init=False)

    def hit(self) -> Decision:
        """Count one request and decide whether it is allowed."""
        now = self.clock()
        if now >= self._window_end:
            self._window_end = now + self.period
            self._count = 0
        self._count += 1
        allowed = not self.enforce or self._count <= self.limit
        return Decision(allowed=allowed, headers=self.headers(now))

    def headers(self, now: float | None = None) -> dict[str, str]:
        """Return the headers for the current window without counting a request."""
        now = self.clock() if now is None else now
        return ratelimit_headers(
            limit=self.limit,
            period=self.period,
            remaining=self.limit - self._count,
            reset=self._reset(max(self._window_end - now, 0.0)),
            name=self.name,
        )

    def _reset(self, seconds: float) -> float:
        if self.integer_reset:
            return max(1, math.ceil(seconds))
        return max(0.001, math.ceil(seconds * 1000) / 1000)
