"""The retry decision and delay are pure functions: tested by tables."""

from __future__ import annotations

import random

import pytest

import ddllmobs_async as dd
from ddllmobs_async._retry import retry_delay, should_retry


def error(status: int) -> dd.APIError:
    return dd.errors.error_class_for(status)(status, [])


@pytest.mark.parametrize(
    ("failure", "retryable"),
    [
        (error(429), True),
        (error(500), True),
        (error(502), True),
        (error(503), True),
        (error(504), True),
        (error(501), False),
        (error(400), False),
        (error(401), False),
        (error(403), False),
        (error(404), False),
        (error(409), False),
        (error(302), False),
        (dd.APIConnectionError("reset"), True),
        (dd.APITimeoutError("slow"), True),
        (dd.ResponseValidationError("cut short"), True),
    ],
)
def test_what_is_retried(failure: dd.LLMObsError, retryable: bool) -> None:
    assert should_retry(failure, 1, dd.RetryPolicy()) is retryable


def test_a_too_large_body_is_never_retried() -> None:
    assert not should_retry(dd.ResponseTooLargeError("big"), 1, dd.RetryPolicy())


def test_retries_stop_after_max_retries() -> None:
    policy = dd.RetryPolicy(max_retries=2)
    assert [should_retry(error(503), n, policy) for n in (1, 2, 3)] == [True, True, False]


@pytest.mark.parametrize(("wait", "retried"), [(None, True), (5.0, True), (61.0, False)])
def test_a_429_asking_for_more_than_the_cap_is_not_retried(
    wait: float | None, retried: bool
) -> None:
    limited = dd.RateLimitError(429, [], retry_after=wait)
    assert should_retry(limited, 1, dd.RetryPolicy(max_rate_limit_wait=60)) is retried


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, True, "1"])
@pytest.mark.parametrize(
    "field", ["initial_delay", "max_delay", "max_rate_limit_wait", "rate_limit_jitter"]
)
def test_policy_numbers_must_be_finite_and_non_negative(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        dd.RetryPolicy(**{field: value})  # type: ignore[arg-type]


def test_retry_statuses_are_configurable() -> None:
    assert not should_retry(error(503), 1, dd.RetryPolicy(retry_statuses={429}))


def test_backoff_schedule_is_exponential_and_capped() -> None:
    delays = dd.RetryPolicy(initial_delay=0.5, max_delay=4.0).backoff_delays()
    assert [next(delays) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_full_jitter_stays_below_the_schedule() -> None:
    policy = dd.RetryPolicy(initial_delay=1.0, max_delay=2.0)
    rng = random.Random(1)
    for _ in range(50):
        schedule = policy.backoff_delays()
        first = retry_delay(error(503), schedule, policy, rng)
        assert 0.0 <= first <= 1.0


@pytest.mark.parametrize("retry_after", [0.0, 1.0, 30.0])
def test_rate_limit_wait_is_the_server_wait_jittered_only_up(retry_after: float) -> None:
    policy = dd.RetryPolicy(rate_limit_jitter=0.2)
    rng = random.Random(7)
    for _ in range(50):
        limited = dd.RateLimitError(429, [], retry_after=retry_after)
        wait = retry_delay(limited, policy.backoff_delays(), policy, rng)
        assert retry_after <= wait <= retry_after + 0.2


def test_rate_limit_without_server_wait_falls_back_to_the_schedule() -> None:
    policy = dd.RetryPolicy(initial_delay=0.25, max_delay=1.0)
    wait = retry_delay(
        dd.RateLimitError(429, []), policy.backoff_delays(), policy, random.Random(0)
    )
    assert 0.0 <= wait <= 0.25


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"initial_delay": -1},
        {"max_delay": "1"},
        {"max_rate_limit_wait": -5},
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        dd.RetryPolicy(**kwargs)  # type: ignore[arg-type]
