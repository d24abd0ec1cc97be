"""Argument checks shared by the client's constructor and methods: fail before any request.

Messages name the argument, never echo a secret.
"""

from __future__ import annotations

import ipaddress
import math
from urllib.parse import urlsplit

from ddllmobs_async._constants import LOOPBACK_HOSTS


def check_positive(argument: str, value: float) -> None:
    """A finite number > 0 (``timeout``...)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not value > 0
    ):
        raise ValueError(f"{argument} must be a finite number > 0, got {value!r}")


def check_count(argument: str, value: int) -> None:
    """An int >= 1 (``max_concurrency``, ``concurrency``...)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be an int >= 1, got {value!r}")


def check_key(argument: str, value: str) -> None:
    """A key is sent as a header: no control characters (they would split the request)."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError(f"{argument} contains control characters (\\r, \\n, \\0...)")


def check_base_url(base_url: str, *, argument: str = "base_url") -> str:
    """An http(s) root URL without credentials; plain http only for loopback hosts.

    ``argument`` names where the value came from in errors (an environment variable).
    """
    if not isinstance(base_url, str):
        raise TypeError(f"{argument} must be a string, got {type(base_url).__name__}")
    if "\\" in base_url or any(ord(char) < 0x21 for char in base_url):
        raise ValueError(f"{argument} must not contain backslashes, spaces or control characters")
    parts = urlsplit(base_url)
    if "@" in base_url:  # also "https:user:pw@host", whose netloc is empty: never echoed
        raise ValueError(
            f"{argument} must not contain user info (user:password@): keys go in headers only"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{argument} must be an http(s) URL, got {base_url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"{argument} must use https (plain http is only allowed for loopback hosts)"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{argument} must not have a query string or fragment")
    try:
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError:
        raise ValueError(f"{argument} has an invalid port, got {base_url!r}") from None
    return base_url.rstrip("/")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
