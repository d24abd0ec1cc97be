"""One client shared by a web backend: each endpoint has its own rate-limit gate, a cancelled
call does not open a gate, and a retry is served before calls that have not started.

Each case runs against a raw server written for it (``tests/raw_servers.py``), bounded by
``asyncio.timeout`` so that a gate holding the wrong calls fails fast instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

import ddllmobs_async as dd
from ddllmobs_async._gate import RateLimitGate
from tests.fake_http import window_headers
from tests.raw_servers import (
    ANALYTICS_PATH,
    Reply,
    Request,
    aggregate,
    page,
    rate_limit,
    serving,
)

QUERY = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
EVENTS = "/api/v2/llm-obs/v3/experiments/{}/events"
SPANS = json.dumps(
    {
        "data": {"id": "x", "type": "experiment_events", "attributes": {"spans": [{"id": "s1"}]}},
        "meta": {},
    }
).encode()


def policy(**overrides: Any) -> dd.RetryPolicy:
    settings: dict[str, Any] = {
        "max_retries": 0,
        "initial_delay": 0.01,
        "max_delay": 0.02,
        "rate_limit_jitter": 0.0,
        "max_rate_limit_wait": 10.0,
    }
    return dd.RetryPolicy(**{**settings, **overrides})


def throttled(reset: float, name: str) -> Reply:
    headers = {
        **rate_limit(limit=10, remaining=0, reset=reset, period=10),
        "X-RateLimit-Name": name,
    }
    return Reply(429, b"", headers)


# --- one gate per endpoint ------------------------------------------------------------------


@pytest.mark.parametrize("reset", [5, 3600], ids=["within-max-wait", "beyond-max-wait"])
async def test_a_429_of_one_endpoint_does_not_hold_another(reset: int) -> None:
    # Analytics is spent for `reset` seconds; the experiments endpoint has its own limit,
    # untouched. Listing must neither wait for analytics' reset nor fail with its 429.
    def script(request: Request) -> Reply:
        if request.path == ANALYTICS_PATH:
            return throttled(reset, "llm_obs_analytics")
        headers = {**rate_limit(limit=100, remaining=99, reset=10, period=10)}
        return Reply(
            200, page(["e1", "e2"]), {**headers, "X-RateLimit-Name": "llm_obs_experiments"}
        )

    async with serving(script, retry_policy=policy()) as (server, client):
        with pytest.raises(dd.RateLimitError):
            await client.aggregate(QUERY)
        started = time.monotonic()
        async with asyncio.timeout(2):
            ids = [experiment.id async for experiment in client.list_experiments(project_id="p1")]
        elapsed = time.monotonic() - started
        with pytest.raises((dd.RateLimitError, TimeoutError)):  # analytics stays closed
            async with asyncio.timeout(0.3):
                await client.aggregate(QUERY)
    assert ids == ["e1", "e2"]
    assert elapsed < 1.0
    assert [r.path for r in server.requests].count(ANALYTICS_PATH) == 1
    assert client.rate_limit is not None and client.rate_limit.name == "llm_obs_experiments"


async def test_the_events_of_every_experiment_share_one_gate() -> None:
    # The experiment id is a path parameter, not a new endpoint: a 429 on the events of one
    # experiment holds the events of another until its reset.
    answers = iter([throttled(0.5, "llm_obs_events"), Reply(200, SPANS), Reply(200, SPANS)])

    def script(request: Request) -> Reply:
        return next(answers)

    async with serving(script, retry_policy=policy()) as (server, client):
        with pytest.raises(dd.RateLimitError):
            await client.get_experiment_results("exp-a")
        started = time.monotonic()
        async with asyncio.timeout(3):
            results = await client.get_experiment_results("exp-b")
        waited = time.monotonic() - started
    assert [span.id for span in results.spans] == ["s1"]
    assert waited > 0.4
    assert [r.path for r in server.requests] == [EVENTS.format("exp-a"), EVENTS.format("exp-b")]


async def test_calls_held_by_a_spent_endpoint_leave_the_slots_to_the_others() -> None:
    # max_concurrency=2 and eight analytics calls waiting out a 1 s window: they wait at
    # their gate without a slot, so listing goes at once instead of queueing behind them.
    spent = Reply(200, aggregate(), rate_limit(limit=1, remaining=0, reset=1, period=1))

    def script(request: Request) -> Reply:
        if request.path == ANALYTICS_PATH:
            return spent
        return Reply(200, page(["e1"]))

    async with serving(script, max_concurrency=2, retry_policy=policy()) as (_server, client):
        await client.aggregate(QUERY)  # learns: no budget left in this window
        held = [asyncio.create_task(client.aggregate(QUERY)) for _ in range(8)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        async with asyncio.timeout(2):
            ids = [experiment.id async for experiment in client.list_experiments(project_id="p1")]
        elapsed = time.monotonic() - started
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
    assert ids == ["e1"]
    assert elapsed < 0.5


# --- a cancelled probe ----------------------------------------------------------------------


async def test_cancelling_the_cold_start_probe_hands_it_to_the_next_call() -> None:
    # Cold start: one probe in flight, twenty calls waiting for its answer (0.3 s away). The
    # probe's caller gives up: the server has not answered, so the next call becomes the
    # probe; the gate must not open for all twenty.
    slow = Reply(200, aggregate(), delay=0.3)
    async with serving([slow], retry_policy=policy()) as (server, client):
        probe = asyncio.create_task(client.aggregate(QUERY))
        await asyncio.sleep(0.02)
        waiting = [asyncio.create_task(client.aggregate(QUERY)) for _ in range(20)]
        await asyncio.sleep(0.05)
        probe.cancel()
        await asyncio.sleep(0.15)
        sent_before_any_answer = len(server.requests)
        async with asyncio.timeout(5):
            results = await asyncio.gather(*waiting)
    assert sent_before_any_answer == 2  # the cancelled probe and the new one
    assert [result.hit_count for result in results] == [1] * 20


async def test_a_grant_given_up_before_sending_returns_its_budget() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    gate.observe(window_headers(limit=2, period=5, remaining=1, reset=5.0), status=200)
    await gate.acquire()  # the last unit of the window
    gate.release(sent=False)  # never sent: the unit is back
    assert await asyncio.wait_for(gate.acquire(), 0.1) == 0.0
    gate.release(sent=True)  # sent, maybe counted by the server: the unit stays spent
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(gate.acquire(), 0.1)


# --- a retry goes first ---------------------------------------------------------------------


async def test_a_retry_is_served_before_calls_that_have_not_started() -> None:
    # max_concurrency=4 and forty calls; the very first attempt gets a 503. Its retry goes to
    # the front of the queue for a slot, so that call ends among the first, not the last.
    answers = iter([Reply(503, b'{"errors": ["unavailable"]}')])

    def script(request: Request) -> Reply:
        return next(answers, Reply(200, aggregate(), delay=0.02))

    finished: list[int] = []

    async def call(number: int) -> None:
        await client.aggregate(QUERY)
        finished.append(number)

    retry = policy(max_retries=1)
    async with (
        serving(script, max_concurrency=4, retry_policy=retry) as (server, client),
        asyncio.timeout(5),
        asyncio.TaskGroup() as group,
    ):
        for number in range(40):
            group.create_task(call(number))
    assert server.requests[0].path == ANALYTICS_PATH
    assert sorted(finished) == list(range(40))
    assert finished.index(0) < 10, finished
