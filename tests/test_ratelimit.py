"""Pure rate-limit parsing: X-RateLimit-* and Retry-After headers, by table."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from ddllmobs_async._gate import RateLimitGate
from ddllmobs_async._ratelimit import (
    RateLimitInfo,
    parse_rate_limit,
    parse_retry_after,
    seconds_until_reset,
)
from tests.fake_http import window_headers

NOW = 1_800_000_000.0  # a wall-clock "now" for epoch conversions


def headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict({k.replace("_", "-"): v for k, v in values.items()})


def test_recorded_lower_case_headers_are_parsed() -> None:
    info = parse_rate_limit(
        headers(
            x_ratelimit_limit="10",
            x_ratelimit_name="logs_public_search_api",
            x_ratelimit_period="10",
            x_ratelimit_remaining="9",
            x_ratelimit_reset="3",
        )
    )
    assert info == RateLimitInfo(
        limit=10, period=10.0, remaining=9, reset=3.0, name="logs_public_search_api"
    )


def test_header_names_are_case_insensitive() -> None:
    info = parse_rate_limit(CIMultiDict({"X-RateLimit-Limit": "5", "X-RATELIMIT-RESET": "0.25"}))
    assert info == RateLimitInfo(limit=5, reset=0.25)


def test_no_rate_limit_headers_means_none() -> None:
    assert parse_rate_limit(headers(content_type="application/json")) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3.0, 3.0),
        (0.0, 0.0),
        (-2.0, 0.0),
        (NOW + 7, 7.0),  # epoch seconds
        ((NOW + 7) * 1000, 7.0),  # epoch milliseconds
        (NOW - 50, 0.0),  # an epoch in the past: the window already reset
    ],
)
def test_reset_reads_epoch_values_as_epochs(raw: float, expected: float) -> None:
    assert seconds_until_reset(raw, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("1.5", 1.5),
        ("Fri, 15 Jan 2027 08:00:10 GMT", 10.0),
        ("Fri, 15 Jan 2027 08:00:10 -0000", 10.0),  # "-0000" is GMT too, not local time
        ("Fri Jan 15 08:00:10 2027", 10.0),  # asctime form, always GMT
        ("soon", None),
        ("-3", 0.0),
        ("Fri, 31 Dec 99999999999999999999 23:59:59 GMT", None),  # overflows: not a date
    ],
)
def test_retry_after_seconds_and_http_dates(value: str, expected: float | None) -> None:
    now = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT
    assert parse_retry_after(headers(retry_after=value), now=now) == expected


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_a_limit_of_zero_or_less_is_unknown(limit: str) -> None:
    info = parse_rate_limit(headers(x_ratelimit_limit=limit, x_ratelimit_remaining="3"))
    assert info == RateLimitInfo(remaining=3)


@pytest.mark.parametrize("period", ["0", "-1", "5e-324", "0.0009"])
def test_a_period_under_a_millisecond_is_unknown(period: str) -> None:
    info = parse_rate_limit(headers(x_ratelimit_period=period, x_ratelimit_remaining="3"))
    assert info == RateLimitInfo(remaining=3)


def test_garbage_values_are_ignored() -> None:
    info = parse_rate_limit(
        headers(x_ratelimit_limit="lots", x_ratelimit_reset="nan", x_ratelimit_remaining="3")
    )
    assert info == RateLimitInfo(remaining=3)


async def test_latest_is_what_the_last_answer_with_headers_said() -> None:
    gate = RateLimitGate(max_wait=60)
    before = gate.latest
    gate.observe(window_headers(limit=10, period=60, remaining=9, reset=30.0), status=200)
    last = CIMultiDict(
        {
            "X-RateLimit-Limit": "10",
            "X-RateLimit-Remaining": "8",
            "X-RateLimit-Reset": "29.5",
            "X-RateLimit-Name": "llm_obs_experiments",
        }
    )
    gate.observe(last, status=200)
    gate.observe({}, status=200)  # an answer without headers does not erase what we know
    assert gate.latest == RateLimitInfo(
        limit=10, remaining=8, reset=29.5, name="llm_obs_experiments"
    )
    assert gate.latest == parse_rate_limit(last)
    assert before is None
