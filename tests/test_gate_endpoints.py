"""One client shared by a web backend: each endpoint has its own rate-limit gate, a cancelled
call does not open a gate, and a retry is served before calls that have not started.

Each case runs against a raw server written for it (``tests/raw_servers.py``), bounded by
``asyncio.timeout`` so that a gate holding the wrong calls fails fast instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal

import aiohttp
import pytest
from multidict import CIMultiDict

import ddllmobs_async as dd
from ddllmobs_async._gate import Grant, RateLimitGate
from ddllmobs_async.testing import FakeLLMObs, Fault
from tests.fake_http import window_headers
from tests.raw_servers import (
    ANALYTICS_PATH,
    API_KEY,
    APP_KEY,
    RawServer,
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


def window(remaining: int, reset: float = 0.3) -> CIMultiDict[str]:
    return window_headers(limit=3, period=reset, remaining=remaining, reset=reset)


async def grants_now(gate: RateLimitGate) -> int:
    """How many requests the gate lets out at once (stopped at ten)."""
    count = 0
    while count < 10:
        try:
            await asyncio.wait_for(gate.acquire(), 0.01)
        except TimeoutError:
            break
        count += 1
    return count


async def test_a_grant_given_up_before_sending_returns_its_unit_to_its_own_window_only() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    gate.observe(window(remaining=1), status=200)
    last = await gate.acquire()  # the last unit of the window
    gate.release(last, sent=False)  # never sent: the unit is back
    again = await asyncio.wait_for(gate.acquire(), 0.1)
    assert again.waited == 0.0 and again.window == last.window
    gate.release(again, sent=True)  # sent, maybe counted by the server: the unit stays spent
    assert await grants_now(gate) == 0

    # Given up after its window ended: the next window keeps its size (3), not 4.
    stale = (await asyncio.wait_for(gate.acquire(), 1)).window
    await asyncio.sleep(0.35)
    assert not gate.current(Grant(0.0, stale))
    gate.release(Grant(0.0, stale), sent=False)
    assert await grants_now(gate) == 3


async def test_a_grant_given_up_after_a_429_does_not_reopen_the_window() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    gate.observe(window(remaining=2, reset=5.0), status=200)
    waiting_for_a_slot = await gate.acquire()
    await gate.acquire()
    gate.observe(window(remaining=0, reset=5.0), status=429)  # another request: closed
    gate.release(waiting_for_a_slot, sent=False)
    assert await grants_now(gate) == 0


@pytest.mark.parametrize("slow", ["analytics", "events"])
async def test_calls_that_wait_for_a_slot_while_windows_pass_do_not_burst(
    slow: Literal["analytics", "events"],
) -> None:
    # Warm gates (20 per 1 s per endpoint), max_concurrency=4. Four slow calls hold every
    # slot for 1.5 s while fifty aggregates pass the analytics gate window after window; when
    # the slots free up, each aggregate must be charged to the window it goes out in, not
    # the one it passed the gate in, or some 40 go out at once into one window: 429s.
    retry = policy(max_retries=10, max_rate_limit_wait=10.0)
    async with FakeLLMObs.seeded(
        n_experiments=4, seed=3, rate_limit=(20, 1.0), latency=0.02
    ) as fake:
        ids = [experiment["id"] for experiment in fake.experiments]
        client = dd.LLMObsClient(
            fake.api_key, fake.app_key, base_url=fake.url, max_concurrency=4, retry_policy=retry
        )
        async with client:
            await client.aggregate(QUERY)  # the gates learn limit and period
            await client.get_experiment_results(ids[0])
            await asyncio.sleep(1.1)
            fake.reset_requests()
            fake.inject(*[Fault.delay(1.5)] * 4, endpoint=slow)
            async with asyncio.timeout(30), asyncio.TaskGroup() as group:
                for number in range(4):
                    if slow == "analytics":
                        group.create_task(client.aggregate(QUERY))
                    else:
                        group.create_task(client.get_experiment_results(ids[number]))
                await asyncio.sleep(0.05)
                for _ in range(50):
                    group.create_task(client.aggregate(QUERY))
        # Without charging again, some 20 are 429s.
        assert fake.stats.rate_limited == 0, fake.stats
        assert fake.stats.requests == 4 + 50, fake.stats


# --- a retry goes first ---------------------------------------------------------------------


async def test_a_retry_is_served_before_calls_that_have_not_started() -> None:
    # A warm gate with a large budget lets all forty calls through at once, so they queue for
    # the four slots of max_concurrency=4. The first attempt after warming gets a 503: its
    # retry goes to the front of the slot queue, so that call ends among the first, not last.
    budget = rate_limit(limit=1000, remaining=900, reset=10, period=10)
    unavailable = Reply(503, b'{"errors": ["unavailable"]}', budget)
    answers = iter([Reply(200, aggregate(), budget), unavailable])

    def script(request: Request) -> Reply:
        return next(answers, Reply(200, aggregate(), budget, delay=0.02))

    finished: list[int] = []

    async def call(number: int) -> None:
        await client.aggregate(QUERY)
        finished.append(number)

    retry = policy(max_retries=1)
    async with serving(script, max_concurrency=4, retry_policy=retry) as (server, client):
        await client.aggregate(QUERY)  # warm: a known window with room for every call
        async with asyncio.timeout(5), asyncio.TaskGroup() as group:
            for number in range(40):
                group.create_task(call(number))
    assert server.requests[1].path == ANALYTICS_PATH
    assert sorted(finished) == list(range(40))
    assert finished.index(0) < 10, finished


async def test_close_fails_the_calls_waiting_for_a_slot_at_once() -> None:
    # With a caller's own aiohttp session, close() leaves it open, so the attempt in flight
    # runs on; the calls waiting for the one slot must not wait for it.
    budget = rate_limit(limit=100, remaining=90, reset=10, period=10)
    answers = [Reply(200, aggregate(), budget), Reply(200, aggregate(), budget, delay=2.0)]
    async with RawServer(answers) as server, aiohttp.ClientSession() as session:
        client = dd.LLMObsClient(
            API_KEY, APP_KEY, base_url=server.url, session=session, max_concurrency=1
        )
        await client.aggregate(QUERY)  # warm: the waiting calls pass the gate, not the slot
        in_flight = asyncio.create_task(client.aggregate(QUERY))
        await asyncio.sleep(0.1)
        waiting = [asyncio.create_task(client.aggregate(QUERY)) for _ in range(3)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await client.close()
        async with asyncio.timeout(1):
            outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        elapsed = time.monotonic() - started
        in_flight.cancel()
        await asyncio.gather(in_flight, return_exceptions=True)
    assert all(isinstance(o, dd.APIConnectionError) for o in outcomes), outcomes
    assert elapsed < 0.5
    assert len(server.requests) == 2


async def test_a_window_forgotten_while_calls_wait_for_slots_does_not_wedge_the_client() -> None:
    # Datadog-shaped windows (100 per 10 s) are far beyond max_rate_limit_wait=1: trusted for
    # 1 s, then forgotten (one probe at a time). Two slow events reads hold both slots for
    # 2.5 s while aggregates pass the analytics gate and queue for a slot; by then their
    # window is forgotten. No call may wait at a gate holding a slot, or nothing is sent.
    retry = policy(max_retries=3, max_rate_limit_wait=1.0)
    async with FakeLLMObs.seeded(
        n_experiments=3, seed=5, rate_limit=(100, 10.0), latency=0.02
    ) as fake:
        ids = [experiment["id"] for experiment in fake.experiments]
        client = dd.LLMObsClient(
            fake.api_key, fake.app_key, base_url=fake.url, max_concurrency=2, retry_policy=retry
        )
        async with client, asyncio.timeout(15), asyncio.TaskGroup() as group:
            await client.aggregate(QUERY)  # the gates learn their (far) windows
            await client.get_experiment_results(ids[0])
            fake.inject(Fault.delay(2.5), Fault.delay(2.5), endpoint="events")
            slow = [group.create_task(client.get_experiment_results(i)) for i in ids[1:]]
            await asyncio.sleep(0.05)
            calls = [group.create_task(client.aggregate(QUERY)) for _ in range(6)]
    assert all(task.done() for task in slow)
    assert [task.result().hit_count for task in calls] == [calls[0].result().hit_count] * 6
