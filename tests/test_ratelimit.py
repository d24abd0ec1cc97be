"""Pure rate-limit pieces: header parsing by table, and the gate with a fake clock."""

from __future__ import annotations

import asyncio

import pytest
from multidict import CIMultiDict

from ddllmobs_async._ratelimit import (
    RateLimitGate,
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
        ("soon", None),
        ("-3", 0.0),
    ],
)
def test_retry_after_seconds_and_http_dates(value: str, expected: float | None) -> None:
    now = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT
    assert parse_retry_after(headers(retry_after=value), now=now) == expected


def test_garbage_values_are_ignored() -> None:
    info = parse_rate_limit(
        headers(x_ratelimit_limit="lots", x_ratelimit_reset="nan", x_ratelimit_remaining="3")
    )
    assert info == RateLimitInfo(remaining=3)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_cold_gate_lets_one_probe_out_until_the_first_answer() -> None:
    clock = Clock()
    gate = RateLimitGate(clock=clock, sleep=clock.sleep)
    assert await gate.acquire() == 0.0
    second = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not second.done()  # held while the probe is in flight
    gate.observe(window_headers(limit=5, period=1, remaining=4, reset=1.0), status=200)
    await asyncio.wait_for(second, 1)


async def test_abandoned_probe_releases_the_next_one() -> None:
    clock = Clock()
    gate = RateLimitGate(clock=clock, sleep=clock.sleep)
    await gate.acquire()
    gate.abandon()
    assert await gate.acquire() == 0.0


async def test_known_budget_is_spent_then_requests_wait_for_the_reset() -> None:
    clock = Clock()
    gate = RateLimitGate(clock=clock, sleep=clock.sleep)
    await gate.acquire()
    gate.observe(window_headers(limit=3, period=2, remaining=2, reset=2.0), status=200)
    assert await gate.acquire() == 0.0
    assert await gate.acquire() == 0.0
    waited = await gate.acquire()  # budget spent: held until the window resets
    assert waited == pytest.approx(2.0)
    # the next window's limit applies: two more go out at once, the third waits again
    assert await gate.acquire() == 0.0
    assert await gate.acquire() == 0.0


async def test_a_429_closes_the_gate_for_everyone_until_reset() -> None:
    clock = Clock()
    gate = RateLimitGate(clock=clock, sleep=clock.sleep)
    await gate.acquire()
    gate.observe(window_headers(limit=100, period=10, remaining=50, reset=5.0), status=200)
    gate.observe(window_headers(limit=100, period=10, remaining=0, reset=0.5), status=429)
    assert await gate.acquire() == pytest.approx(0.5)  # the 429's reset is the latest word


async def test_headerless_server_leaves_the_gate_open() -> None:
    clock = Clock()
    gate = RateLimitGate(clock=clock, sleep=clock.sleep)
    await gate.acquire()
    gate.observe({}, status=200)
    for _ in range(100):
        assert await gate.acquire() == 0.0


async def test_hold_closes_the_gate_for_a_retry_after() -> None:
    clock = Clock()
    gate = RateLimitGate(clock=clock, sleep=clock.sleep)
    await gate.acquire()
    gate.observe({}, status=429)
    gate.hold(3.0)
    assert await gate.acquire() == pytest.approx(3.0)


async def test_late_answer_from_an_older_window_is_ignored() -> None:
    clock = Clock()
    gate = RateLimitGate(clock=clock, sleep=clock.sleep)
    await gate.acquire()
    gate.observe(window_headers(limit=10, period=10, remaining=9, reset=10.0), status=200)
    gate.observe(window_headers(limit=10, period=10, remaining=0, reset=0.5), status=200)
    assert gate._budget == 9


def test_latest_is_what_the_last_answer_with_headers_said() -> None:
    gate = RateLimitGate()
    before = gate.latest
    gate.observe(window_headers(limit=10, period=60, remaining=9, reset=30.0), status=200)
    last = CIMultiDict(
        {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "8", "X-RateLimit-Reset": "29.5",
         "X-RateLimit-Name": "llm_obs_experiments"}
    )  # fmt: skip
    gate.observe(last, status=200)
    gate.observe({}, status=200)  # an answer without headers does not erase what we know
    assert gate.latest == RateLimitInfo(
        limit=10, remaining=8, reset=29.5, name="llm_obs_experiments"
    )
    assert gate.latest == parse_rate_limit(last)
    assert before is None
