"""The retry decision and delay are pure functions: tested by tables."""

from __future__ import annotations

import random

import pytest

import ddllmobs_async as dd
from ddllmobs_async._retry import is_retryable, retry_delay


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
    assert is_retryable(failure, dd.RetryPolicy()) is retryable


def test_retry_statuses_are_configurable() -> None:
    assert not is_retryable(error(503), dd.RetryPolicy(retry_statuses={429}))


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
