"""Retrying does not leak connections (issue 11, item 5; after openai-python's test of that name).

Counted on the server side: after retries, timeouts, resets, bodies cut short and cancelled
calls, every connection on which the client gave up is closed by the client, the pool is not
left holding connections "in use" (a full pool would make the next calls hang), and
``close()`` closes everything.
"""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

import ddllmobs_async as dd
from tests.raw_servers import (
    Answer,
    RawServer,
    Reply,
    Request,
    Reset,
    Silence,
    Truncated,
    aggregate,
    serving,
    watch_hygiene,
)

QUERY = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
POOL = 2  # max_concurrency: the connector's limit too
OK = Reply(200, aggregate())


class Plan:
    """Answers queued by the test, in arrival order; plain 200s when the queue is empty."""

    def __init__(self) -> None:
        self.queue: deque[Answer] = deque()

    def add(self, *answers: Answer) -> None:
        self.queue.extend(answers)

    def __call__(self, request: Request) -> Answer:
        return self.queue.popleft() if self.queue else OK


async def no_connection_left(server: RawServer, *, within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while server.open_connections:  # noqa: ASYNC110 (polls the server's own counter)
            await asyncio.sleep(0.01)


async def test_retries_timeouts_and_cancellations_leave_no_connection_in_use() -> None:
    plan = Plan()
    retry = dd.RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02)
    with watch_hygiene() as hygiene:
        async with serving(plan, timeout=0.2, retry_policy=retry, max_concurrency=POOL) as (
            server,
            client,
        ):
            # retried 5xx, then success
            plan.add(Reply(503, b""), Reply(502, b""))
            assert (await client.aggregate(QUERY)).hit_count == 1
            # every attempt times out
            plan.add(Silence(), Silence(), Silence())
            with pytest.raises(dd.APITimeoutError):
                await client.aggregate(QUERY)
            # resets and bodies cut short, retried to success
            plan.add(Reset(), Truncated(body=aggregate()[:15]))
            assert (await client.aggregate(QUERY)).hit_count == 1
            # calls cancelled while their requests are unanswered
            plan.add(*[Silence()] * (2 * POOL))
            cancelled = [asyncio.ensure_future(client.aggregate(QUERY)) for _ in range(2 * POOL)]
            await asyncio.sleep(0.05)
            for task in cancelled:
                task.cancel()
            await asyncio.gather(*cancelled, return_exceptions=True)
            assert all(task.cancelled() for task in cancelled)

            # at most POOL kept-alive idle connections; the abandoned ones were closed
            async with asyncio.timeout(2):
                while server.open_connections > POOL:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            # a pool still holding connections "in use" would make these hang
            async with asyncio.timeout(2):
                results = await asyncio.gather(*(client.aggregate(QUERY) for _ in range(4 * POOL)))
            assert [r.hit_count for r in results] == [1] * (4 * POOL)
            assert server.open_connections <= POOL

            await client.close()
            await no_connection_left(server)
    assert not hygiene.problems()


async def test_a_cancelled_stream_leaves_no_connection_in_use() -> None:
    plan = Plan()
    retry = dd.RetryPolicy(max_retries=0)
    async with serving(plan, timeout=5, retry_policy=retry, max_concurrency=1) as (server, client):
        plan.add(Silence())
        stream = client.list_experiments(project_id="p1")
        reader = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.05)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        await stream.aclose()
        await no_connection_left(server)  # the unanswered request's connection was dropped
        async with asyncio.timeout(2):  # and the single pool slot is free again
            assert (await client.aggregate(QUERY)).hit_count == 1
