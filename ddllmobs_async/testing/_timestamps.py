"""RFC 3339 timestamps the way Datadog writes them (``Z`` suffix, 0-9 fraction digits)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")
_NS_PER_SECOND = 1_000_000_000


def parse_ns(value: str) -> int:
    """Return an RFC 3339 timestamp as integer nanoseconds since the Unix epoch.

    Raises:
        ValueError: If ``value`` is not an RFC 3339 date-time.
    """
    match = _RFC3339.match(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    whole, fraction, zone = match.groups()
    offset = "+00:00" if zone == "Z" else zone
    seconds = datetime.fromisoformat(whole + offset).timestamp()
    return int(seconds) * _NS_PER_SECOND + int((fraction or "").ljust(9, "0"))


def format_ns(ns: int, digits: int) -> str:
    """Format nanoseconds since the epoch as UTC RFC 3339 with ``digits`` fraction digits."""
    seconds, fraction = divmod(ns, _NS_PER_SECOND)
    whole = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 0:
        return f"{whole}Z"
    return f"{whole}.{str(fraction).rjust(9, '0')[:digits]}Z"


def shift_ns(ns: int, delta: timedelta) -> int:
    """Return ``ns`` moved by ``delta``."""
    return ns + int(delta.total_seconds() * _NS_PER_SECOND)


def to_epoch_ms(ns: int) -> int:
    """Convert nanoseconds since the epoch to milliseconds since the epoch."""
    return ns // 1_000_000
