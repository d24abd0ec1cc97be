"""Rate limits, pure: Datadog's ``X-RateLimit-*`` headers and ``Retry-After`` -> numbers.

What the client does with them (holding requests) is the gate's job (``_gate.py``).
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from datetime import timezone
from typing import NamedTuple

import attrs

# A reset above this is a Unix timestamp, not a number of seconds (2001-09-09 in seconds).
_EPOCH_SECONDS_THRESHOLD = 1e9
_EPOCH_MILLIS_THRESHOLD = 1e12
# Datadog's periods are whole seconds; one under a millisecond is noise, not a window (and
# dividing elapsed time by it overflows).
_MIN_PERIOD = 1e-3


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
    reading = read_headers(headers, now)
    return None if reading is None else info_of(reading)


class Reading(NamedTuple):
    """What one answer's ``X-RateLimit-*`` headers said (reset in seconds from then)."""

    limit: int | None
    period: float | None
    remaining: int | None
    reset: float | None
    name: str | None


def read_headers(headers: Mapping[str, str], now: float | None = None) -> Reading | None:
    """The ``X-RateLimit-*`` headers as numbers; ``None`` when none is present."""
    limit = _number(headers.get("x-ratelimit-limit"))
    period = _number(headers.get("x-ratelimit-period"))
    remaining = _number(headers.get("x-ratelimit-remaining"))
    reset = _number(headers.get("x-ratelimit-reset"))
    if limit is None and period is None and remaining is None and reset is None:
        return None
    return Reading(
        None if limit is None or limit < 1 else int(limit),  # a limit <= 0 tells nothing
        None if period is None or period < _MIN_PERIOD else period,
        None if remaining is None else max(0, int(remaining)),
        None if reset is None else seconds_until_reset(reset, now=now),
        headers.get("x-ratelimit-name"),
    )


def info_of(reading: Reading) -> RateLimitInfo:
    """The public :class:`RateLimitInfo` of a reading."""
    return RateLimitInfo(**reading._asdict())


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
        if when.tzinfo is None:  # "-0000" or asctime form: HTTP dates are always GMT
            when = when.replace(tzinfo=timezone.utc)
        at = when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):  # e.g. a twenty-digit year
        return None
    wall = time.time() if now is None else now
    return max(0.0, at - wall)


def server_wait(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds a 429 asks to wait: ``X-RateLimit-Reset``, else ``Retry-After``, else ``None``."""
    reading = read_headers(headers, now)
    if reading is not None and reading.reset is not None:
        return reading.reset
    return parse_retry_after(headers, now=now)


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)  # surrounding whitespace is accepted
    except ValueError:
        return None
    return value if math.isfinite(value) else None
