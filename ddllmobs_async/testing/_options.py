"""Validation of the options a :class:`~ddllmobs_async.testing.FakeLLMObs` is built with."""

from __future__ import annotations


def check_options(
    rate_limit: tuple[int, float] | None,
    latency: float,
    max_page_size: int,
    last_page_after: object,
    empty_pages_every: int | None,
    metric_keys: object,
) -> None:
    """Raise ``ValueError`` naming the first option of :class:`FakeLLMObs` out of range."""
    if rate_limit is not None and (rate_limit[0] < 1 or rate_limit[1] <= 0):
        raise ValueError(f"rate_limit must be (limit >= 1, period > 0), got {rate_limit!r}")
    if latency < 0:
        raise ValueError(f"latency must not be negative, got {latency!r}")
    if max_page_size < 1:
        raise ValueError(f"max_page_size must be >= 1, got {max_page_size!r}")
    if last_page_after not in ("omit", "", None):
        raise ValueError(f"last_page_after must be 'omit', '' or None, not {last_page_after!r}")
    if empty_pages_every is not None and empty_pages_every < 2:
        raise ValueError(f"empty_pages_every must be >= 2, got {empty_pages_every!r}")
    if metric_keys not in ("alias", "metric"):
        raise ValueError(f"metric_keys must be 'alias' or 'metric', not {metric_keys!r}")
