"""Issue 10, points 1-4: the rate-limit gate never waits without a known, bounded end.

Each test drives a raw server (``tests/raw_servers.py``) written for the case and bounds the
whole scenario with ``asyncio.timeout`` so a wedged gate fails fast instead of hanging CI.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest

import ddllmobs_async as dd
from tests.raw_servers import (
    API_KEY,
    APP_KEY,
    RawServer,
    Reply,
    Request,
    Silence,
    Truncated,
    aggregate,
    rate_limit,
    serving,
)

QUERY = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
OK = Reply(200, aggregate())


def client_for(server: RawServer, **options: Any) -> dd.LLMObsClient:
    return dd.LLMObsClient(API_KEY, APP_KEY, base_url=server.url, **options)


def policy(**overrides: Any) -> dd.RetryPolicy:
    settings: dict[str, Any] = {
        "max_retries": 0,
        "initial_delay": 0.01,
        "max_delay": 0.02,
        "rate_limit_jitter": 0.01,
    }
    return dd.RetryPolicy(**{**settings, **overrides})


# --- 1. gate wedge --------------------------------------------------------------------------


async def test_headerless_answers_after_a_window_refill_do_not_wedge_the_gate() -> None:
    # A window of 2 refilled client-side, then a gateway's 502s without x-ratelimit-* spend
    # it: the gate has budget 0 and no known reset, and must let a probe through.
    window = Reply(200, aggregate(), rate_limit(limit=2, remaining=2, reset=0.1, period=0.1))
    bad_gateway = Reply(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"})
    async with serving(
        [window, bad_gateway, bad_gateway, bad_gateway, OK], retry_policy=policy()
    ) as (server, client):
        await client.aggregate(QUERY)
        await asyncio.sleep(0.15)  # the known window ends: the gate refills it itself
        for _ in range(3):
            with pytest.raises(dd.ServerError):
                async with asyncio.timeout(2):
                    await client.aggregate(QUERY)
        async with asyncio.timeout(2):
            result = await client.aggregate(QUERY)
    assert result.hit_count == 1
    assert len(server.requests) == 5


@pytest.mark.parametrize("period", ["5e-324", "1e-300", "0.0001"])
async def test_a_vanishing_period_does_not_wedge_the_gate(period: str) -> None:
    # Elapsed time divided by 5e-324 is infinite: the window roll raised in the gate's
    # timer and the calls waiting there were never woken.
    spent = Reply(200, aggregate(), rate_limit(limit=1, remaining=0, reset=0.05, period=period))
    async with serving([spent, OK, OK, OK], retry_policy=policy()) as (server, client):
        await client.aggregate(QUERY)
        async with asyncio.timeout(2):
            async with asyncio.TaskGroup() as calls:
                for _ in range(3):
                    calls.create_task(client.aggregate(QUERY))
    assert len(server.requests) == 4


@pytest.mark.parametrize("limit", ["0", "-1", "-1000"])
async def test_a_limit_of_zero_or_less_is_treated_as_unknown(limit: str) -> None:
    zero_window = Reply(200, aggregate(), rate_limit(limit=limit, remaining=0, reset=0.05))
    async with serving([zero_window, OK], retry_policy=policy()) as (server, client):
        await client.aggregate(QUERY)
        async with asyncio.timeout(2):
            await client.aggregate(QUERY)
            await client.aggregate(QUERY)
    assert len(server.requests) == 3


async def test_many_concurrent_calls_survive_a_drained_window_without_headers() -> None:
    window = Reply(200, aggregate(), rate_limit(limit=3, remaining=3, reset=0.05, period=0.05))
    answers = [window, *[Reply(503, b"")] * 3, OK]
    async with serving(answers, retry_policy=policy(max_retries=3)) as (_server, client):
        await client.aggregate(QUERY)
        await asyncio.sleep(0.1)
        async with asyncio.timeout(3):
            results = await asyncio.gather(*(client.aggregate(QUERY) for _ in range(10)))
    assert [r.hit_count for r in results] == [1] * 10


# --- 2. far reset ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 429])
async def test_a_far_reset_is_probed_again_after_max_rate_limit_wait(status: int) -> None:
    # One answer says the window resets in 9e8 s (28 years). Calls that would wait that long
    # fail at once, but the gate must not trust that header for the life of the client.
    far = Reply(status, aggregate(), rate_limit(limit=10, remaining=0, reset=9e8, period=60))
    async with serving([far, OK], retry_policy=policy(max_rate_limit_wait=0.2)) as (server, client):
        if status == 429:
            with pytest.raises(dd.RateLimitError):
                await client.aggregate(QUERY)
        else:
            await client.aggregate(QUERY)
        started = time.monotonic()
        try:
            async with asyncio.timeout(1):
                await client.aggregate(QUERY)  # may fail at once; must not wait
        except dd.RateLimitError:
            assert time.monotonic() - started < 0.5
        await asyncio.sleep(0.3)  # longer than max_rate_limit_wait
        async with asyncio.timeout(2):
            result = await client.aggregate(QUERY)
    assert result.hit_count == 1
    assert len(server.requests) >= 2


# --- 3. cold-start serialisation ------------------------------------------------------------


async def test_a_host_that_never_answers_does_not_serialise_a_cold_burst() -> None:
    # 20 concurrent calls, timeout 0.25 s, one retry: each call is two attempts (~0.5 s);
    # today the cold-start probe holds them one at a time (10 s).
    async with RawServer([Silence()]) as server:
        client = client_for(server, timeout=0.25, retry_policy=policy(max_retries=1))
        async with client:
            started = time.monotonic()
            async with asyncio.timeout(4):
                outcomes = await asyncio.gather(
                    *(client.aggregate(QUERY) for _ in range(20)), return_exceptions=True
                )
            elapsed = time.monotonic() - started
    assert all(isinstance(o, dd.APITimeoutError) for o in outcomes), outcomes
    assert elapsed < 1.5
    assert 20 <= len(server.requests) <= 40


async def test_a_silent_first_probe_holds_others_back_at_most_one_attempt() -> None:
    # The very first request is never answered; everything after it is. The others may wait
    # for the probe, but no longer than one attempt (timeout 0.3 s).
    async with serving([Silence(), OK], timeout=0.3, retry_policy=policy(max_retries=1)) as (
        _server,
        client,
    ):
        first = asyncio.create_task(client.aggregate(QUERY))
        await asyncio.sleep(0.02)
        started = time.monotonic()
        async with asyncio.timeout(3):
            results = await asyncio.gather(*(client.aggregate(QUERY) for _ in range(10)))
        waited = time.monotonic() - started
        async with asyncio.timeout(3):
            await first  # its retry is answered
    assert [r.hit_count for r in results] == [1] * 10
    assert waited < 0.3 + 0.3


# --- 4. Retry-After-only servers ------------------------------------------------------------


class FixedWindow:
    """``limit`` requests per ``window`` seconds; over it, a 429 with only ``Retry-After``
    (or, with ``says_when=False``, with no header at all)."""

    def __init__(self, limit: int, window: float, *, says_when: bool = True) -> None:
        self.limit = limit
        self.window = window
        self.says_when = says_when
        self.started = time.monotonic()
        self.counts: dict[int, int] = {}
        self.too_many = 0

    def __call__(self, request: Request) -> Reply:
        elapsed = request.at - self.started
        index = math.floor(elapsed / self.window)
        self.counts[index] = self.counts.get(index, 0) + 1
        if self.counts[index] <= self.limit:
            return OK
        self.too_many += 1
        wait = (index + 1) * self.window - elapsed
        body = b'{"errors": ["Too many requests"]}'
        return Reply(429, body, {"Retry-After": f"{wait:.3f}"} if self.says_when else {})


async def test_retry_after_only_server_every_call_succeeds_and_429s_stay_few() -> None:
    # Issue 10's scenario (200 tasks, 5 requests per window, max_retries=3), with 0.1 s windows
    # instead of 1 s to keep the test short: every call succeeds and the 429s stay in the tens.
    limiter = FixedWindow(limit=5, window=0.1)
    async with RawServer(limiter) as server:
        retry = policy(max_retries=3, rate_limit_jitter=0.02)
        async with client_for(server, retry_policy=retry) as client:
            async with asyncio.timeout(20):
                outcomes = await asyncio.gather(
                    *(client.aggregate(QUERY) for _ in range(200)), return_exceptions=True
                )
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert not failed, f"{len(failed)} calls failed, e.g. {failed[0]!r}"
    assert limiter.too_many < 100, f"{limiter.too_many} answers were 429"
    assert len(server.requests) == 200 + limiter.too_many


async def test_a_gateway_whose_429s_say_nothing_is_paced_not_stormed() -> None:
    # 20 requests per 1 s window; over it, a 429 with no header at all. The gate used to
    # halve an in-flight allowance that doubling had taken to 2**30, so every slot kept
    # sending and 429s outnumbered the calls. Each such 429 must hold the endpoint for a
    # while (as a Retry-After does) and the gate learn the pace from what was accepted.
    limiter = FixedWindow(limit=20, window=1.0, says_when=False)
    async with RawServer(limiter) as server:
        retry = policy(max_retries=3, initial_delay=0.5, max_delay=8.0, max_rate_limit_wait=10)
        async with client_for(server, max_concurrency=16, retry_policy=retry) as client:
            async with asyncio.timeout(30):
                outcomes = await asyncio.gather(
                    *(client.aggregate(QUERY) for _ in range(80)), return_exceptions=True
                )
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert not failed, f"{len(failed)} calls failed, e.g. {failed[0]!r}"
    assert limiter.too_many <= 40, f"{limiter.too_many} answers were 429"


async def test_a_retry_after_beyond_the_cap_closes_the_gate_for_everyone() -> None:
    # Retry-After: 3600 exceeds max_rate_limit_wait: the call fails at once, and the 20
    # concurrent calls after it send at most a couple of requests between them.
    hour = Reply(429, b'{"errors": ["Too many requests"]}', {"Retry-After": "3600"})
    async with serving([hour], retry_policy=policy(max_retries=3)) as (server, client):
        async with asyncio.timeout(2):
            with pytest.raises(dd.RateLimitError):
                await client.aggregate(QUERY)
            outcomes = await asyncio.gather(
                *(client.aggregate(QUERY) for _ in range(20)), return_exceptions=True
            )
    assert all(isinstance(o, dd.RateLimitError) for o in outcomes), outcomes
    assert len(server.requests) <= 1 + 2


# --- 5. an answer whose body fails still teaches the gate -----------------------------------


@pytest.mark.parametrize("status", [200, 429])
@pytest.mark.parametrize("body_fault", ["cut short", "bad gzip"])
async def test_an_answer_whose_body_fails_still_closes_a_spent_window(
    status: int, body_fault: str
) -> None:
    # The cold probe's answer says "window spent, resets in 1 s", but its body cannot be read.
    # The server did answer: the gate must hear its headers, not treat it like a host that
    # never answered (which opens a cold gate to every waiting call at once).
    spent = rate_limit(limit=5, remaining=0, reset=1, period=1)
    if body_fault == "cut short":
        first: Truncated | Reply = Truncated(b'{"data": ', status=status, headers=spent)
    else:
        first = Reply(status, b"not gzip at all", {**spent, "Content-Encoding": "gzip"})
    async with serving([first, OK], retry_policy=policy()) as (server, client):
        probe = asyncio.create_task(client.aggregate(QUERY))
        await asyncio.sleep(0)  # the probe passes the cold gate first
        others = [asyncio.create_task(client.aggregate(QUERY)) for _ in range(6)]
        with pytest.raises(dd.LLMObsError):
            async with asyncio.timeout(2):
                await probe
        async with asyncio.timeout(4):
            results = await asyncio.gather(*others)
    probed_at = server.requests[0].at
    sent_in_the_spent_window = [r for r in server.requests[1:] if r.at - probed_at < 0.5]
    assert sent_in_the_spent_window == []
    assert [r.hit_count for r in results] == [1] * 6
    assert len(server.requests) == 1 + 6
