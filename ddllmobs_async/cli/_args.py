"""Argument types of the ``ddllmobs`` command line: times, metrics, metadata, rate limits.

Each parser raises ``argparse.ArgumentTypeError`` so argparse reports the bad value with
the usage line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ddllmobs_async import _constants as const
from ddllmobs_async.models import Compute

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str, *, now: datetime | None = None) -> datetime:
    """``now``, a duration ago (``90s``, ``30m``, ``1h``, ``2d``, ``1w``) or an aware ISO time.

    Raises:
        argparse.ArgumentTypeError: Anything else, including an ISO time without a
            timezone (``Z`` or ``+02:00`` is required).
    """
    now = now or datetime.now(timezone.utc)
    text = value.strip()
    if text.lower() == "now":
        return now
    match = _RELATIVE.match(text.lower())
    if match:
        amount, unit = match.groups()
        try:
            return now - timedelta(**{_UNITS[unit]: float(amount)})
        except OverflowError:
            raise argparse.ArgumentTypeError(
                f"invalid time {value!r}: that is before the year 1"
            ) from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {value!r}: use now, a duration ago like 90s, 30m, 1h, 2d, "
            "or an ISO time with a timezone like 2026-07-20T09:30:00Z"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"time {value!r} has no timezone: add Z (UTC) or an offset like +02:00"
        )
    return moment


def parse_metric(value: str) -> Compute:
    """``METRIC`` or ``METRIC=NAME`` (the result's name) as a :class:`Compute`.

    ``METRIC:NAME`` is accepted too (the older spelling).
    """
    separator = "=" if "=" in value else ":"
    metric, found, name = value.partition(separator)
    if not metric or (found and not name):
        raise argparse.ArgumentTypeError(
            f"invalid metric {value!r}: use METRIC or METRIC=NAME, e.g. score_value=avg_score"
        )
    return Compute(metric, name=name or None)


def parse_metadata(value: str) -> tuple[str, Any]:
    """``key=value`` (a string) or ``key:=json`` (a number, bool, null, list or object)."""
    equals = value.find("=")
    if equals > 0 and value[equals - 1] == ":":
        key, raw = value[: equals - 1], value[equals + 1 :]
        try:
            return _metadata_key(key, value), json.loads(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid metadata {value!r}: the value after := must be JSON"
            ) from None
    key, sep, text = value.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(
            f"invalid metadata {value!r}: use key=value (or key:=JSON for non-strings)"
        )
    return _metadata_key(key, value), text


def _metadata_key(key: str, value: str) -> str:
    if not key:
        raise argparse.ArgumentTypeError(f"invalid metadata {value!r}: the key is empty")
    return key


def parse_rate_limit(value: str) -> tuple[int, float]:
    """``LIMIT/PERIOD``: at most LIMIT requests per PERIOD seconds, e.g. ``100/60``."""
    limit, sep, period = value.partition("/")
    try:
        parsed = (int(limit), float(period))
    except ValueError:
        parsed = None
    if not sep or parsed is None or parsed[0] < 1 or not parsed[1] > 0:
        raise argparse.ArgumentTypeError(
            f"invalid rate limit {value!r}: use LIMIT/PERIOD_SECONDS like 100/60"
        )
    return parsed


def positive_int(value: str) -> int:
    """An integer >= 1."""
    return _bounded_int(value, 1)


def non_negative_int(value: str) -> int:
    """An integer >= 0."""
    return _bounded_int(value, 0)


def page_size(value: str) -> int:
    """An integer within 1..5000, the API's page sizes."""
    size = _bounded_int(value, 1)
    if size > const.MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(
            f"invalid page size {value!r}: the API serves 1..{const.MAX_PAGE_SIZE} per page"
        )
    return size


def port_number(value: str) -> int:
    """A TCP port (0 picks a free one)."""
    port = _bounded_int(value, 0)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"invalid port {value!r}: use 0..65535")
    return port


def positive_float(value: str) -> float:
    """A number > 0."""
    return _bounded_float(value, zero_allowed=False)


def non_negative_float(value: str) -> float:
    """A number >= 0."""
    return _bounded_float(value, zero_allowed=True)


def _bounded_int(value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise argparse.ArgumentTypeError(
            f"invalid value {value!r}: expected an integer >= {minimum}"
        )
    return number


def _bounded_float(value: str, *, zero_allowed: bool) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not (number >= 0 if zero_allowed else number > 0):
        bound = ">= 0" if zero_allowed else "> 0"
        raise argparse.ArgumentTypeError(f"invalid value {value!r}: expected a number {bound}")
    return number
