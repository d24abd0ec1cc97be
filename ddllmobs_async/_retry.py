"""Retry policy: the decision, the delay (``backoff`` primitives) and the one retry loop.

The decision and the delay are small pure functions; :func:`retry_call` is the only loop.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TypeVar, TypeVarTuple, Unpack

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
from ddllmobs_async._responses import DeferredError
from ddllmobs_async.errors import (
    APIConnectionError,
    APIError,
    LLMObsError,
    RateLimitError,
    ResponseValidationError,
)

logger = logging.getLogger("ddllmobs_async")

T = TypeVar("T")
Args = TypeVarTuple("Args")


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
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be a number >= 0, got {value!r}")


def _to_statuses(statuses: Iterable[int]) -> frozenset[int]:
    return frozenset(statuses)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the client retries: pass one as ``LLMObsClient(retry_policy=...)``.

    Retried: 429, 500, 502, 503, 504, connection errors, timeouts, and 2xx bodies that are
    cut short or not JSON. Never other 4xx. Every retry counts against ``max_retries``.

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
    on_retry: Callable[[RetryEvent], None] | None = attrs.field(default=None, eq=False)

    @max_retries.validator
    def _check_max_retries(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {value!r}")

    def backoff_delays(self) -> Iterator[float]:
        """The capped exponential schedule (before jitter), from the ``backoff`` library."""
        delays = backoff.expo(base=2, factor=self.initial_delay, max_value=self.max_delay)
        next(delays)  # backoff's generators must be primed with a first next()
        return delays


def is_retryable(error: LLMObsError, policy: RetryPolicy) -> bool:
    """Whether an attempt that failed with ``error`` may be tried again."""
    if isinstance(error, APIError):
        return error.status in policy.retry_statuses
    # Inside the retry loop a ResponseValidationError means an unreadable body (cut short,
    # not JSON); schema problems are found after the loop and are never retried.
    return isinstance(error, APIConnectionError | ResponseValidationError)


def rate_limit_wait(error: RateLimitError, policy: RetryPolicy, rng: random.Random) -> float | None:
    """Seconds to wait after a 429 that said how long; ``None`` if it did not say."""
    if error.retry_after is None:
        return None
    return error.retry_after + rng.uniform(0, policy.rate_limit_jitter)


def retry_delay(
    error: LLMObsError, schedule: Iterator[float], policy: RetryPolicy, rng: random.Random
) -> float:
    """Seconds to sleep before retrying after ``error``.

    The server's own wait on a 429 is honoured and only ever jittered *up*; everything
    else takes the next step of the exponential schedule with full jitter.
    """
    if isinstance(error, RateLimitError):
        server_wait = rate_limit_wait(error, policy, rng)
        if server_wait is not None:
            return server_wait
    return float(backoff.full_jitter(next(schedule)))


async def retry_call(
    attempt: Callable[[Unpack[Args]], Awaitable[T | DeferredError]],
    *args: *Args,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]],
    method: str,
    path: str,
    rng: random.Random,
    on_wait: Callable[[float], None],
    on_rate_limited: Callable[[float], None],
) -> T:
    """Run ``attempt(*args)`` until it succeeds, fails for good, or retries run out.

    ``attempt`` raises :class:`LLMObsError` on failure, or returns a :class:`DeferredError`
    for a failure that must never be retried (raised here, after the loop). A 429 whose wait
    exceeds ``policy.max_rate_limit_wait`` is raised at once. ``on_rate_limited`` gets every
    429's wait so the caller can close its rate-limit gate; ``on_wait`` is told every sleep.
    """
    schedule: Iterator[float] | None = None  # built on the first failure: most calls never fail
    failures = 0
    while True:
        try:
            outcome = await attempt(*args)
        except LLMObsError as error:
            failures += 1
            if not is_retryable(error, policy) or failures > policy.max_retries:
                raise
            if schedule is None:
                schedule = policy.backoff_delays()
            wait = retry_delay(error, schedule, policy, rng)
            if isinstance(error, RateLimitError):
                if error.retry_after is not None and error.retry_after > policy.max_rate_limit_wait:
                    raise
                on_rate_limited(wait)
            _announce(
                policy,
                RetryEvent(
                    attempt=failures,
                    wait=wait,
                    error=error,
                    status=getattr(error, "status", None),
                    method=method,
                    path=path,
                ),
            )
            on_wait(wait)
            await sleep(wait)
            continue
        if isinstance(outcome, DeferredError):
            raise outcome.error
        return outcome


def _announce(policy: RetryPolicy, event: RetryEvent) -> None:
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
