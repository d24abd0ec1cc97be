"""Retries, rate limits, concurrency and streams under faults (against the fake Datadog)."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
import traceback
import weakref
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

import ddllmobs_async as dd
from ddllmobs_async.testing import FakeLLMObs, Fault
from tests.conftest import FAST_RETRIES, ClientFactory

AGGREGATE = dd.AggregateQuery([dd.Compute("score_value", name="avg")], ["experiment-evals"], "*")


def live_ids(fake: FakeLLMObs) -> list[str]:
    return [e["id"] for e in fake.experiments if e["attributes"]["deleted_at"] is None]


class InFlight:
    """Counts requests in flight through an aiohttp session's trace hooks."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.starts: list[float] = []
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._start)
        self.config.on_request_end.append(self._end)
        self.config.on_request_exception.append(self._end)

    async def _start(self, session: Any, context: SimpleNamespace, params: Any) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        self.starts.append(time.monotonic())

    async def _end(self, session: Any, context: SimpleNamespace, params: Any) -> None:
        self.now -= 1


@pytest.fixture
async def traced_session() -> AsyncIterator[tuple[aiohttp.ClientSession, InFlight]]:
    counter = InFlight()
    async with aiohttp.ClientSession(trace_configs=[counter.config]) as session:
        yield session, counter


# --- retries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(500),
        Fault.status(502),
        Fault.status(503),
        Fault.status(504),
        Fault.rate_limited(reset=0.01),
        Fault.retry_after(0.01),
        Fault.reset(),
        Fault.truncated(),
        Fault.non_json(),
        Fault.html(502),
        Fault.delay(0.5),
    ],
    ids=lambda f: f.name,
)
async def test_transient_faults_are_retried_until_success(
    fake: FakeLLMObs, make_client: ClientFactory, fault: Fault
) -> None:
    client = make_client(fake, timeout=0.25)
    fake.inject(fault, fault, fault)
    result = await client.aggregate(AGGREGATE)
    assert result.hit_count == len(fake.eval_events)
    assert len(fake.requests) == 4  # three failures, every one counted, then the answer


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_other_4xx_are_never_retried(
    fake: FakeLLMObs, make_client: ClientFactory, status: int
) -> None:
    fake.inject(Fault.status(status))
    with pytest.raises(dd.APIError) as info:
        await make_client(fake).aggregate(AGGREGATE)
    assert info.value.status == status and len(fake.requests) == 1


@pytest.mark.parametrize("max_retries", [0, 1, 2, 5])
async def test_max_retries_bounds_attempts_and_429s_count(
    fake: FakeLLMObs, make_client: ClientFactory, max_retries: int
) -> None:
    fake.inject(*[Fault.rate_limited(reset=0.01), Fault.status(503)] * 4)
    policy = dd.RetryPolicy(max_retries=max_retries, initial_delay=0.001, rate_limit_jitter=0)
    with pytest.raises((dd.RateLimitError, dd.ServerError)):
        await make_client(fake, retry_policy=policy).aggregate(AGGREGATE)
    assert len(fake.requests) == max_retries + 1


async def test_429_waits_for_the_reset_and_is_observable(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    events: list[dd.RetryEvent] = []
    policy = dd.RetryPolicy(rate_limit_jitter=0.05, on_retry=events.append)
    client = make_client(fake, retry_policy=policy)
    fake.inject(Fault.rate_limited(reset=0.3, limit=42))
    started = time.monotonic()
    await client.aggregate(AGGREGATE)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 2.0
    (event,) = events
    assert (event.status, event.attempt, event.method) == (429, 1, "POST")
    assert 0.3 <= event.wait <= 0.35
    assert isinstance(event.error, dd.RateLimitError)
    assert client.total_wait_seconds >= 0.3
    assert client.rate_limit is not None and client.rate_limit.limit is not None


async def test_retry_after_header_is_honoured(fake: FakeLLMObs, make_client: ClientFactory) -> None:
    fake.inject(Fault.retry_after(0.3))
    started = time.monotonic()
    await make_client(fake).aggregate(AGGREGATE)
    assert time.monotonic() - started >= 0.3


async def test_a_wait_above_the_cap_raises_at_once(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    fake.inject(Fault.rate_limited(reset=120))
    client = make_client(fake, retry_policy=dd.RetryPolicy(max_rate_limit_wait=5))
    started = time.monotonic()
    with pytest.raises(dd.RateLimitError) as info:
        await client.aggregate(AGGREGATE)
    assert time.monotonic() - started < 1.0
    assert info.value.retry_after == pytest.approx(120, abs=1)
    assert len(fake.requests) == 1


async def test_retries_are_logged_without_secrets(
    fake: FakeLLMObs, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.inject(Fault.status(503), Fault.rate_limited(reset=0.01))
    await make_client(fake).aggregate(AGGREGATE)
    retries = [r for r in caplog.records if r.name == "ddllmobs_async"]
    assert len(retries) == 2 and "ServerError" in retries[0].getMessage()
    for record in caplog.records:
        assert fake.api_key not in record.getMessage() and fake.app_key not in record.getMessage()


# --- one rate-limit gate per client ------------------------------------------------------


async def test_a_window_beyond_the_cap_fails_fast_for_every_later_call(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    fake.inject(Fault.rate_limited(reset=3600))
    client = make_client(fake, retry_policy=dd.RetryPolicy(max_rate_limit_wait=5))
    for _ in range(2):  # the second call must not sit behind the closed gate for an hour
        started = time.monotonic()
        with pytest.raises(dd.RateLimitError) as info:
            await asyncio.wait_for(client.aggregate(AGGREGATE), 5)
        assert time.monotonic() - started < 1.0
        assert info.value.retry_after == pytest.approx(3600, abs=2)
    assert len(fake.requests) == 1


async def test_a_spent_budget_with_a_distant_reset_fails_fast(make_client: ClientFactory) -> None:
    async with FakeLLMObs.seeded(n_experiments=3, rate_limit=(2, 600)) as server:
        client = make_client(server, retry_policy=dd.RetryPolicy(max_rate_limit_wait=10))
        await client.aggregate(AGGREGATE)
        await client.aggregate(AGGREGATE)
        with pytest.raises(dd.RateLimitError) as info:
            await asyncio.wait_for(client.aggregate(AGGREGATE), 5)
        assert info.value.retry_after is not None and info.value.retry_after > 500
        assert len(server.requests) == 2  # the gate knew; nothing was sent to collect a 429


async def test_answerless_attempts_give_their_budget_back(make_client: ClientFactory) -> None:
    async with FakeLLMObs.seeded(
        n_experiments=3, rate_limit=(5, 0.3), integer_reset=False
    ) as server:
        client = make_client(
            server, retry_policy=dd.RetryPolicy(max_retries=10, initial_delay=0.001)
        )
        await client.aggregate(AGGREGATE)
        await asyncio.sleep(0.35)  # the window rolls over locally: budget = limit, reset unknown
        server.inject(*[Fault.reset()] * 5)  # the whole budget goes to attempts with no answer
        result = await asyncio.wait_for(client.aggregate(AGGREGATE), 5)
        assert result.hit_count == len(server.eval_events)


async def test_one_429_holds_every_other_request_until_the_reset(
    fake: FakeLLMObs, traced_session: tuple[aiohttp.ClientSession, InFlight]
) -> None:
    session, counter = traced_session
    fake.inject(Fault.rate_limited(reset=0.4))
    client = dd.LLMObsClient(
        fake.api_key, fake.app_key, base_url=fake.url, session=session, retry_policy=FAST_RETRIES
    )
    started = time.monotonic()
    results = await asyncio.gather(*(client.aggregate(AGGREGATE) for _ in range(10)))
    assert len(results) == 10
    assert fake.stats.rate_limited == 1  # nobody else discovered the limit on its own
    later = [t - started for t in counter.starts[1:]]
    assert len(later) == 10 and min(later) >= 0.4


@pytest.mark.slow
async def test_concurrent_batch_under_a_real_limit_is_near_the_minimum_time(
    make_client: ClientFactory,
) -> None:
    limit, period, calls = 5, 1.0, 25
    async with FakeLLMObs.seeded(n_experiments=5, rate_limit=(limit, period)) as server:
        client = make_client(server, retry_policy=dd.RetryPolicy(max_retries=10))
        started = time.monotonic()
        results = await asyncio.gather(*(client.aggregate(AGGREGATE) for _ in range(calls)))
        elapsed = time.monotonic() - started
        assert len(results) == calls
        windows = -(-calls // limit)
        minimum = (windows - 1) * period
        assert minimum <= elapsed < minimum + 1.5  # close to the theoretical minimum
        assert server.stats.rate_limited <= windows  # at most about one 429 per window


async def test_max_concurrency_bounds_requests_in_flight(
    traced_session: tuple[aiohttp.ClientSession, InFlight],
) -> None:
    session, counter = traced_session
    async with FakeLLMObs.seeded(n_experiments=3, latency=0.05) as server:
        client = dd.LLMObsClient(
            server.api_key, server.app_key, base_url=server.url, session=session, max_concurrency=4
        )
        await asyncio.gather(*(client.aggregate(AGGREGATE) for _ in range(40)))
        assert counter.peak == 4
        assert not session.closed
        await client.close()
        assert not session.closed  # a session passed in is never closed by the client


# --- streams that lose nothing -----------------------------------------------------------


async def test_a_429_mid_stream_refetches_only_that_page(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake)
    ids = []
    async for exp in client.list_experiments(project_id=fake.project_id, page_size=10):
        ids.append(exp.id)
        if len(ids) == 20:  # page 3 is next
            fake.inject(Fault.rate_limited(reset=0.05), Fault.status(503))
    assert ids == live_ids(fake)  # every item exactly once, in order
    cursors = [r.param("page[cursor]") for r in fake.requests_to("experiments")]
    assert cursors[0] is None and cursors[2] == cursors[3] == cursors[4]
    assert len(cursors) == len(set(cursors)) + 2  # only page 3 was asked for again


async def test_a_failed_stream_says_where_to_resume(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake, retry_policy=dd.RetryPolicy(max_retries=1, initial_delay=0.001))
    got: list[str] = []

    async def consume() -> None:
        async for exp in client.list_experiments(project_id=fake.project_id, page_size=7):
            got.append(exp.id)
            if len(got) == 14:
                fake.inject(Fault.status(500), Fault.status(500))

    with pytest.raises(dd.ServerError) as info:
        await consume()
    cursor = info.value.cursor
    assert cursor is not None and cursor == fake.requests_to("experiments")[-1].param(
        "page[cursor]"
    )
    got += [
        e.id
        async for e in client.list_experiments(
            project_id=fake.project_id, page_size=7, cursor=cursor
        )
    ]
    assert got == live_ids(fake)


async def test_a_failed_first_page_has_no_cursor(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    fake.inject(Fault.status(403))
    with pytest.raises(dd.PermissionDeniedError) as info:
        await anext(make_client(fake).list_experiments(project_id=fake.project_id))
    assert info.value.cursor is None


@pytest.mark.parametrize("where", ["page fetch", "between pages", "backoff sleep"])
async def test_cancellation_anywhere_leaves_the_client_usable(
    fake: FakeLLMObs, traced_session: tuple[aiohttp.ClientSession, InFlight], where: str
) -> None:
    session, counter = traced_session
    client = dd.LLMObsClient(
        fake.api_key,
        fake.app_key,
        base_url=fake.url,
        session=session,
        max_concurrency=1,
        retry_policy=dd.RetryPolicy(
            initial_delay=5, max_delay=5, on_retry=lambda event: sleeping.set()
        ),
    )
    consumer_waits = asyncio.Event()
    sleeping = asyncio.Event()

    async def consume() -> None:
        async for _ in client.list_experiments(project_id=fake.project_id, page_size=5):
            if where == "between pages":
                await consumer_waits.wait()

    if where == "page fetch":
        fake.inject(Fault.delay(5))
    if where == "backoff sleep":
        fake.inject(Fault.status(503))
    task = asyncio.create_task(consume())
    if where == "backoff sleep":
        await asyncio.wait_for(sleeping.wait(), 5)  # cancel once the retry sleep has begun
    else:
        await asyncio.sleep(0.3)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counter.now == 0  # the connection was released
    # the one concurrency slot and the gate were released too: the client still works
    ids = [e.id async for e in client.list_experiments(project_id=fake.project_id)]
    assert ids == live_ids(fake)


def test_one_client_across_two_asyncio_runs() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = dd.LLMObsClient("k1", "k2", base_url=f"http://127.0.0.1:{port}", max_concurrency=1)

    async def batch(close: bool) -> int:
        async with FakeLLMObs.seeded(
            n_experiments=3, port=port, api_key="k1", app_key="k2"
        ) as fake:
            results = await asyncio.gather(*(client.aggregate(AGGREGATE) for _ in range(3)))
            if close:
                await client.close()
            return sum(r.hit_count for r in results) // len(fake.eval_events)

    assert asyncio.run(batch(close=True)) == 3
    assert asyncio.run(batch(close=True)) == 3  # closed in the first loop: reopened in this one
    first = asyncio.new_event_loop()
    try:
        assert first.run_until_complete(batch(close=False)) == 3
        with pytest.raises(RuntimeError, match="another event loop"):  # still open elsewhere
            asyncio.run(batch(close=True))
        first.run_until_complete(client.close())
    finally:
        first.close()


def test_a_client_left_open_in_an_ended_loop_says_how_to_recover() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = dd.LLMObsClient("k1", "k2", base_url=f"http://127.0.0.1:{port}")

    async def one_call() -> int:
        async with FakeLLMObs.seeded(
            n_experiments=3, port=port, api_key="k1", app_key="k2"
        ) as fake:
            result = await client.aggregate(AGGREGATE)
            return result.hit_count // len(fake.eval_events)

    first = asyncio.new_event_loop()
    try:
        assert first.run_until_complete(one_call()) == 1  # left open
    finally:
        first.close()
    with pytest.raises(RuntimeError, match=r"has ended .* `await client\.close\(\)` here"):
        asyncio.run(one_call())
    asyncio.run(client.close())  # as the message says
    assert asyncio.run(one_call()) == 1
    asyncio.run(client.close())


async def test_a_client_dropped_without_close_closes_its_session(fake: FakeLLMObs) -> None:
    client = dd.LLMObsClient(fake.api_key, fake.app_key, base_url=fake.url)
    await client.aggregate(AGGREGATE)
    session = weakref.ref(client._session._session)
    del client
    gc.collect()  # with warnings as errors, an "Unclosed client session" would fail here
    for _ in range(50):
        await asyncio.sleep(0.01)
        alive = session()
        if alive is None or alive.closed:
            break
    alive = session()
    assert alive is None or alive.closed
    del alive
    gc.collect()


async def test_client_stays_usable_after_close(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake)
    await client.aggregate(AGGREGATE)
    await client.close()
    await client.close()  # idempotent
    assert (await client.aggregate(AGGREGATE)).hit_count == len(fake.eval_events)


# --- security ----------------------------------------------------------------------------


async def test_keys_never_appear_in_errors_or_tracebacks(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake, retry_policy=dd.RetryPolicy(max_retries=0), timeout=0.2)
    faults = [
        Fault.status(400),
        Fault.status(500),
        Fault.rate_limited(reset=0.01),
        Fault.reset(),
        Fault.truncated(),
        Fault.non_json(),
        Fault.html(),
        Fault.delay(1),
        Fault.redirect("http://127.0.0.1:9/x"),
    ]
    for fault in faults:
        fake.inject(fault)
        with pytest.raises(dd.LLMObsError) as info:
            await client.aggregate(AGGREGATE)
        text = (
            "".join(traceback.format_exception(info.value))
            + repr(info.value)
            + repr(vars(info.value))
        )
        assert fake.api_key not in text and fake.app_key not in text, fault.name
    assert fake.api_key not in repr(client) and fake.app_key not in repr(client)


async def test_keys_only_go_to_the_configured_host(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    async with FakeLLMObs() as other:
        fake.inject(
            Fault.redirect(other.url + "/api/v2/llm-obs/v1/experimentation/analytics", status=307)
        )
        with pytest.raises(dd.APIError):
            await make_client(fake).aggregate(AGGREGATE)
        assert other.requests == []


# --- soak --------------------------------------------------------------------------------


@pytest.mark.slow
async def test_soak_every_item_once_and_every_aggregate_returned(
    make_client: ClientFactory,
) -> None:
    async with FakeLLMObs.seeded(n_experiments=2200, events_per_experiment=1) as server:
        server.fail_randomly(0.05, seed=11)
        client = make_client(
            server,
            timeout=2.0,
            retry_policy=dd.RetryPolicy(
                max_retries=8, initial_delay=0.001, max_delay=0.02, rate_limit_jitter=0.01
            ),
        )
        ids = live_ids(server)

        async def crawl(prefetch: int) -> list[str]:
            return [
                e.id
                async for e in client.list_experiments(
                    project_id=server.project_id, page_size=40, prefetch=prefetch
                )
            ]

        queries = [
            dd.AggregateQuery(["score_value"], ["experiment-evals"], f"@experiment_id:{i}")
            for i in ids[:1850]
        ]
        assert len(queries) == 1850
        crawled, read_ahead, results = await asyncio.gather(
            crawl(0), crawl(2), client.aggregate_many(queries)
        )
        assert crawled == read_ahead == ids  # every item exactly once, in order
        assert len(results) == len(queries) and all(
            isinstance(r, dd.AggregateResult) for r in results
        )
        assert all(r.hit_count == 1 for r in results if isinstance(r, dd.AggregateResult))
        stats = server.stats
        assert stats.requests >= 1900 and sum(stats.faults.values()) >= 50  # faults really happened
