"""``prefetch=``: pages fetched in the background, bounded, in order, cancelled with the stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

import ddllmobs_async as dd
from ddllmobs_async._pagination import read_ahead
from ddllmobs_async.testing import FakeLLMObs, Fault
from tests.conftest import ClientFactory


def page_requests(fake: FakeLLMObs) -> int:
    return len(fake.requests_to("experiments"))


async def settle(fake: FakeLLMObs, expected: int) -> None:
    """Wait until the fake has seen ``expected`` page requests, then a little more."""
    for _ in range(1000):  # at most ~5 s
        if page_requests(fake) >= expected:
            break
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)  # time for one more (unwanted) request to show up


def client_tasks() -> list[asyncio.Task[object]]:
    """Tasks running library code (the fake server's own handler tasks excluded)."""
    library = Path(dd.__file__).parent
    return [
        task
        for task in asyncio.all_tasks()
        if (code := getattr(task.get_coro(), "cr_code", None)) is not None
        and Path(code.co_filename).is_relative_to(library)
        and not Path(code.co_filename).is_relative_to(library / "testing")
    ]


def live_ids(fake: FakeLLMObs) -> list[str]:
    return [e["id"] for e in fake.experiments if e["attributes"]["deleted_at"] is None]


@pytest.mark.parametrize("ahead", [1, 3])
async def test_prefetch_fetches_ahead_while_the_consumer_holds_a_page(
    fake: FakeLLMObs, client: dd.LLMObsClient, ahead: int
) -> None:
    pages = client.list_experiment_pages(project_id=fake.project_id, page_size=5, prefetch=ahead)
    async with aclosing(pages):
        first = await anext(pages)
        await settle(fake, 1 + ahead)
        assert page_requests(fake) == 1 + ahead  # `ahead` more, and no further
        second = await anext(pages)
        await settle(fake, 2 + ahead)
        assert page_requests(fake) == 2 + ahead
    assert first.next_cursor == second.cursor


async def test_without_prefetch_nothing_is_fetched_ahead(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    pages = client.list_experiment_pages(project_id=fake.project_id, page_size=5)
    async with aclosing(pages):
        await anext(pages)
        await settle(fake, 2)
        assert page_requests(fake) == 1


@pytest.mark.parametrize("ahead", [1, 2, 50])
async def test_prefetch_yields_the_same_items_in_order_and_stops_at_the_end(
    fake: FakeLLMObs, client: dd.LLMObsClient, ahead: int
) -> None:
    ids = [
        e.id
        async for e in client.list_experiments(
            project_id=fake.project_id, page_size=7, prefetch=ahead
        )
    ]
    assert ids == live_ids(fake)
    assert page_requests(fake) == -(-len(ids) // 7)  # one request per page, none past the end


async def test_prefetch_respects_max_items(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    ids = [
        e.id
        async for e in client.list_experiments(
            project_id=fake.project_id, page_size=5, max_items=12, prefetch=4
        )
    ]
    assert ids == live_ids(fake)[:12]
    assert [r.param("page[limit]") for r in fake.requests_to("experiments")] == ["5", "5", "2"]


async def test_a_failed_page_ahead_arrives_in_order_with_its_cursor(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake, retry_policy=dd.RetryPolicy(max_retries=0))
    # pages 1 and 2 answer normally, page 3 fails: all before it must still be delivered
    fake.inject(Fault.delay(0.001), Fault.delay(0.001), Fault.status(500), endpoint="experiments")
    got: list[str] = []

    async def consume() -> None:
        async for exp in client.list_experiments(
            project_id=fake.project_id, page_size=7, prefetch=2
        ):
            got.append(exp.id)

    with pytest.raises(dd.ServerError) as info:
        await consume()
    assert got == live_ids(fake)[:14]
    assert info.value.cursor == fake.requests_to("experiments")[2].param("page[cursor]")
    got += [
        e.id
        async for e in client.list_experiments(
            project_id=fake.project_id, page_size=7, cursor=info.value.cursor, prefetch=2
        )
    ]
    assert got == live_ids(fake)


async def test_closing_the_stream_cancels_the_fetch_in_flight(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    fake.inject(Fault.delay(0.001), Fault.delay(30), endpoint="experiments")
    pages = client.list_experiment_pages(project_id=fake.project_id, page_size=5, prefetch=1)
    await anext(pages)
    await settle(fake, 2)  # page 2 is being fetched (the server holds it for 30 s)
    started = time.monotonic()
    await pages.aclose()
    assert time.monotonic() - started < 10  # cancelled, not awaited to the end
    assert client_tasks() == []  # no fetch left behind
    assert page_requests(fake) == 2
    again = [e.id async for e in client.list_experiments(project_id=fake.project_id, max_items=3)]
    assert again == live_ids(fake)[:3]  # the client is still usable


async def test_cancelling_the_consumer_cancels_the_read_ahead(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    fake.inject(Fault.delay(0.001), Fault.delay(30), endpoint="experiments")
    reached_first_page = asyncio.Event()

    async def consume() -> None:
        async for _page in client.list_experiment_pages(
            project_id=fake.project_id, page_size=5, prefetch=1
        ):
            reached_first_page.set()

    consumer = asyncio.create_task(consume())
    await reached_first_page.wait()
    await settle(fake, 2)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert client_tasks() == []


@pytest.mark.parametrize(
    ("prefetch", "exc"), [(-1, ValueError), (True, TypeError), (1.5, TypeError), ("1", TypeError)]
)
async def test_invalid_prefetch_fails_before_any_request(
    fake: FakeLLMObs, client: dd.LLMObsClient, prefetch: object, exc: type[Exception]
) -> None:
    with pytest.raises(exc, match="prefetch"):
        async for _ in client.list_experiments(project_id=fake.project_id, prefetch=prefetch):  # type: ignore[arg-type]
            pass
    assert fake.requests == []


# --- read_ahead on its own: endings that are not a page, a StopAsyncIteration or an Exception


class Stop(BaseException):
    """A BaseException that is not an Exception (like KeyboardInterrupt, without its effects)."""


def made_up_page(number: int) -> dd.ExperimentPage:
    return dd.ExperimentPage(experiments=[], next_cursor=f"after-{number}", cursor=None)


async def pages_then(error: BaseException, count: int = 2) -> AsyncGenerator[dd.ExperimentPage]:
    for number in range(count):
        await asyncio.sleep(0)
        yield made_up_page(number)
    raise error


async def test_a_base_exception_ahead_reaches_the_consumer_instead_of_hanging() -> None:
    got: list[str | None] = []

    async def consume() -> None:
        async for page in read_ahead(pages_then(Stop()), 1, asyncio.create_task):
            got.append(page.next_cursor)

    with pytest.raises(Stop):
        await asyncio.wait_for(consume(), 5)
    assert got == ["after-0", "after-1"]


async def test_a_read_ahead_cancelled_from_outside_fails_the_stream_instead_of_hanging() -> None:
    async def endless() -> AsyncGenerator[dd.ExperimentPage]:
        yield made_up_page(0)
        await asyncio.Event().wait()  # the next page never comes
        yield made_up_page(1)

    stream = read_ahead(endless(), 1, asyncio.create_task)
    async with aclosing(stream):
        await anext(stream)
        await asyncio.sleep(0)
        (producer,) = client_tasks()
        producer.cancel()
        with pytest.raises(dd.LLMObsError, match="cancelled from outside the stream"):
            await asyncio.wait_for(anext(stream), 5)


async def test_a_stream_whose_read_ahead_was_closed_says_where_to_resume(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    fake.inject(Fault.delay(0.001), Fault.delay(10), endpoint="experiments")  # page 2 hangs
    pages = client.list_experiment_pages(project_id=fake.project_id, page_size=5, prefetch=1)
    async with aclosing(pages):
        first = await anext(pages)
        await settle(fake, 2)
        await client.close()  # stops the read-ahead task in the middle of page 2
        with pytest.raises(dd.LLMObsError, match="cancelled from outside") as caught:
            await asyncio.wait_for(anext(pages), 5)
    assert first.next_cursor is not None
    assert caught.value.cursor == first.next_cursor
    rest = [
        e.id
        async for e in client.list_experiments(
            project_id=fake.project_id, page_size=5, cursor=caught.value.cursor
        )
    ]
    assert [e.id for e in first.experiments] + rest == live_ids(fake)


def test_an_unclosed_prefetching_stream_ends_quietly_with_its_loop() -> None:
    reported: list[dict[str, Any]] = []
    unclosed: list[AsyncGenerator[dd.Experiment]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: reported.append(context)
        )
        async with FakeLLMObs.seeded(n_experiments=60) as fake:
            client = dd.LLMObsClient(fake.api_key, fake.app_key, base_url=fake.url)
            async with client:
                stream = client.list_experiments(
                    project_id=fake.project_id, page_size=5, prefetch=2
                )
                await anext(stream)
                await asyncio.sleep(0.05)  # the pages ahead are in
                unclosed.append(stream)  # never closed: asyncio.run's shutdown must do it

    asyncio.run(main())
    assert reported == []
