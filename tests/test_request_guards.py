"""Unit tests for what survived a mutation check, and the cursor-loop guard (issue 11, items 5-6).

Each against a raw server written for the case (``tests/raw_servers.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing

import aiohttp
import pytest

import ddllmobs_async as dd
from tests.raw_servers import (
    API_KEY,
    APP_KEY,
    RawServer,
    Reply,
    Request,
    Silence,
    aggregate,
    page,
    rate_limit,
    serving,
)

QUERY = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
NO_RETRY = dd.RetryPolicy(max_retries=0)


class GenerousPages:
    """Ignores ``page[limit]``: every page has ``per_page`` items and a next cursor."""

    def __init__(self, per_page: int) -> None:
        self.per_page = per_page
        self.limits: list[str | None] = []

    def __call__(self, request: Request) -> Reply:
        self.limits.append(request.param("page[limit]"))
        number = int(request.param("page[cursor]") or "0")
        ids = [f"p{number}-{i}" for i in range(self.per_page)]
        return Reply(200, page(ids, after=str(number + 1)))


@pytest.mark.parametrize(
    ("max_items", "page_size", "expected_limits"),
    [
        (3, None, ["3"]),
        (1, None, ["1"]),
        (5, None, ["5"]),
        (7, 5, ["5", "1"]),
        (5, 2, ["2"]),
        (8, 3, ["3", "2"]),
    ],
)
async def test_max_items_holds_when_the_server_returns_more_than_asked(
    max_items: int, page_size: int | None, expected_limits: list[str]
) -> None:
    pages = GenerousPages(per_page=6)
    async with serving(pages, retry_policy=NO_RETRY) as (_server, client):
        stream = client.list_experiments(project_id="p1", max_items=max_items, page_size=page_size)
        async with aclosing(stream), asyncio.timeout(3):
            found = [e.id async for e in stream]
    # every item the server sent, in order, up to max_items: none dropped, none beyond it
    served = [f"p{n}-{i}" for n in range(len(pages.limits)) for i in range(6)]
    assert found == served[:max_items]
    assert pages.limits == expected_limits


async def read_ids(stream: AsyncGenerator[dd.Experiment], *, into: list[str]) -> None:
    async with aclosing(stream), asyncio.timeout(3):
        async for experiment in stream:
            into.append(experiment.id)


async def test_the_cursor_loop_guard_ends_a_stream_that_gets_its_own_cursor_back() -> None:
    def same_cursor(request: Request) -> Reply:
        cursor = request.param("page[cursor]")
        return Reply(200, page([f"e-{cursor}"], after="A"))

    async with serving(same_cursor, retry_policy=NO_RETRY) as (server, client):
        found: list[str] = []
        with pytest.raises(dd.ResponseValidationError, match="cursor") as caught:
            await read_ids(client.list_experiments(project_id="p1"), into=found)
    assert caught.value.cursor == "A"
    assert len(server.requests) == 2
    assert found[0] == "e-None"


async def test_a_200_with_remaining_zero_holds_the_next_request_until_the_reset() -> None:
    spent = Reply(200, aggregate(), rate_limit(limit=5, remaining=0, reset=0.3, period=1))
    policy = dd.RetryPolicy(max_retries=0, max_rate_limit_wait=5)
    async with serving([spent, Reply(200, aggregate())], retry_policy=policy) as (server, client):
        await client.aggregate(QUERY)
        async with asyncio.timeout(3):
            await client.aggregate(QUERY)
    first, second = server.requests
    assert second.at - first.at >= 0.3 - 0.02


async def test_the_attempt_timeout_holds_with_a_caller_session_of_300_s() -> None:
    async with (
        RawServer([Silence()]) as server,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session,
    ):
        client = dd.LLMObsClient(
            API_KEY, APP_KEY, base_url=server.url, session=session, timeout=0.2,
            retry_policy=NO_RETRY,
        )  # fmt: skip
        started = time.monotonic()
        with pytest.raises(dd.APITimeoutError):
            async with asyncio.timeout(3):
                await client.aggregate(QUERY)
        assert time.monotonic() - started < 1.0
        await client.close()
