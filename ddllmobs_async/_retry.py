"""Retry policy: what to retry and how long to wait (``backoff`` primitives), as pure functions.

The one loop that uses them is ``SessionManager.request_json``.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
import backoff

from ddllmobs_async._constants import (
    DEFAULT_INITIAL_DELAY,
    DEFAULT_MAX_DELAY,
    DEFAULT_MAX_RATE_LIMIT_WAIT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RATE_LIMIT_JITTER,
    RETRYABLE_STATUSES,
)
from ddllmobs_async.errors import (
    APIConnectionError,
    APIError,
    LLMObsError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
)

logger = logging.getLogger("ddllmobs_async")


@attrs.frozen(kw_only=True)
class RetryEvent:
    """What a retry hook is told before each retry sleep.

    Attributes:
        attempt: The attempt that just failed (1 for the first try).
        wait: Seconds the client will sleep before the next attempt.
        error: The error of the failed attempt.
        status: Its HTTP status, or ``None`` when there was no response.
        method: HTTP method.
        path: Request path.
    """

    attempt: int
    wait: float
    error: LLMObsError
    status: int | None
    method: str
    path: str


def _check_non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"RetryPolicy.{attribute.name} must be a finite number >= 0, got {value!r}"
        )


def _to_statuses(statuses: Iterable[int]) -> frozenset[int]:
    if isinstance(statuses, int | str | bytes) or not isinstance(statuses, Iterable):
        raise TypeError(f"retry_statuses must be a collection of ints, got {statuses!r}")
    found = frozenset(statuses)
    for status in found:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"retry_statuses must hold HTTP statuses (100-599), got {status!r}")
    return found


def _check_hook(policy: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"on_retry must be a callable or None, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the client retries: pass one as ``LLMObsClient(retry_policy=...)``.

    Retried: 429, 500, 502, 503, 504, connection errors, timeouts, and 2xx bodies that are
    cut short or not JSON. Never other 4xx, nor a body over ``max_response_bytes``. Every
    retry counts against ``max_retries``, every answered 429 included.

    Attributes:
        max_retries: Retries per call after the first attempt; 0 disables retrying.
        initial_delay: First backoff delay (seconds) for 5xx / connection / timeout errors.
        max_delay: Cap of the exponential schedule (full jitter below it).
        max_rate_limit_wait: Longest 429 wait the client accepts; a server asking for longer
            makes the call raise :class:`RateLimitError` at once instead of sleeping.
        rate_limit_jitter: At most this many seconds are added to the server's reset so a
            crowd of waiting requests does not arrive before the window opens.
        retry_statuses: HTTP statuses worth retrying.
        on_retry: Optional hook called with a :class:`RetryEvent` before each retry sleep.
    """

    max_retries: int = attrs.field(default=DEFAULT_MAX_RETRIES)
    initial_delay: float = attrs.field(default=DEFAULT_INITIAL_DELAY, validator=_check_non_negative)
    max_delay: float = attrs.field(default=DEFAULT_MAX_DELAY, validator=_check_non_negative)
    max_rate_limit_wait: float = attrs.field(
        default=DEFAULT_MAX_RATE_LIMIT_WAIT, validator=_check_non_negative
    )
    rate_limit_jitter: float = attrs.field(
        default=DEFAULT_RATE_LIMIT_JITTER, validator=_check_non_negative
    )
    retry_statuses: frozenset[int] = attrs.field(default=RETRYABLE_STATUSES, converter=_to_statuses)
    on_retry: Callable[[RetryEvent], None] | None = attrs.field(
        default=None, eq=False, validator=_check_hook
    )

    @max_retries.validator
    def _check_max_retries(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {value!r}")

    def backoff_delays(self) -> Iterator[float]:
        """The capped exponential schedule (before jitter), from the ``backoff`` library."""
        delays = backoff.expo(base=2, factor=self.initial_delay, max_value=self.max_delay)
        next(delays)  # backoff's generators must be primed with a first next()
        return delays


def should_retry(error: LLMObsError, failures: int, policy: RetryPolicy) -> bool:
    """Whether a call whose ``failures``-th attempt failed with ``error`` tries again."""
    if failures > policy.max_retries:
        return False
    if isinstance(error, RateLimitError):
        wait = error.retry_after
        return 429 in policy.retry_statuses and (wait is None or wait <= policy.max_rate_limit_wait)
    if isinstance(error, APIError):
        return error.status in policy.retry_statuses
    if isinstance(error, ResponseTooLargeError):
        return False  # the same answer would be too large again
    # An unreadable body (cut short, not JSON) or no answer at all: worth another try.
    return isinstance(error, APIConnectionError | ResponseValidationError)


def retry_delay(
    error: LLMObsError, schedule: Iterator[float], policy: RetryPolicy, rng: random.Random
) -> float:
    """Seconds to sleep before retrying after ``error``.

    The server's own wait on a 429 is honoured and only ever jittered *up*; everything
    else takes the next step of the exponential schedule with full jitter.
    """
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        return error.retry_after + rng.uniform(0, policy.rate_limit_jitter)
    return float(backoff.full_jitter(next(schedule)))


def announce_retry(policy: RetryPolicy, event: RetryEvent) -> None:
    """Log a retry and tell the policy's ``on_retry`` hook."""
    logger.info(
        "retrying %s %s after %s (attempt %d of %d) in %.2fs",
        event.method,
        event.path,
        type(event.error).__name__,
        event.attempt + 1,
        policy.max_retries + 1,
        event.wait,
    )
    if policy.on_retry is not None:
        policy.on_retry(event)
