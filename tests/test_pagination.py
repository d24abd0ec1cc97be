"""The paginator, driven by a scripted ``fetch_page``: limits, guards, de-duplication."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

import ddllmobs_async as dd
from ddllmobs_async._converters.experiments import structure_experiment
from ddllmobs_async._endpoints.experiments import EXPERIMENT_PAGES
from ddllmobs_async._pagination import FetchBody, PageSource, iter_items, iter_pages
from ddllmobs_async.testing import make_experiment

EXPERIMENTS = [structure_experiment(make_experiment(id=f"e{i}")) for i in range(12)]


class Script:
    """Pages by cursor: ``{cursor: (item indexes, next cursor)}``; records each request."""

    def __init__(self, pages: Mapping[str | None, tuple[Sequence[int], str | None]]) -> None:
        self.pages = pages
        self.requests: list[tuple[str | None, int | None]] = []

    async def __call__(self, cursor: str | None, limit: int | None) -> dict[str, Any]:
        self.requests.append((cursor, limit))
        indexes, after = self.pages[cursor]
        return {"items": list(indexes), "meta": {"after": after}}


def build(body: dict[str, Any], *, cursor: str | None) -> dd.ExperimentPage:
    return dd.ExperimentPage(
        experiments=[EXPERIMENTS[i] for i in body["items"]],
        next_cursor=body["meta"]["after"],
        cursor=cursor,
    )


def count(body: dict[str, Any]) -> int:
    return len(body["items"])


def split(body: dict[str, Any], parts: int) -> list[dict[str, Any]]:
    items = body["items"]
    size = -(-len(items) // parts)
    return [{**body, "items": items[i : i + size]} for i in range(0, len(items), size)]


async def items(fetch: FetchBody, **options: Any) -> list[str]:
    settings: dict[str, Any] = {
        "page_size": None,
        "cursor": None,
        "max_items": None,
        "max_empty_pages": 3,
        **options,
    }
    pages = iter_pages(PageSource(fetch, build, count, split), EXPERIMENT_PAGES, **settings)
    return [e.id async for e in iter_items(pages, EXPERIMENT_PAGES)]


async def test_pages_are_followed_until_the_cursor_ends_and_short_pages_are_not_the_end() -> None:
    script = Script({None: ([0, 1], "a"), "a": ([2], "b"), "b": ([], "c"), "c": ([3], None)})
    assert await items(script) == [e.id for e in EXPERIMENTS[:4]]
    assert [cursor for cursor, _ in script.requests] == [None, "a", "b", "c"]


async def test_max_items_asks_for_no_more_than_it_needs_and_cuts_a_longer_page() -> None:
    script = Script({None: ([0, 1, 2, 3, 4], "a"), "a": ([5, 6, 7, 8], None)})
    assert await items(script, page_size=5, max_items=7) == [e.id for e in EXPERIMENTS[:7]]
    assert script.requests == [(None, 5), ("a", 2)]
    # a server that sends more than page[limit] asked for is cut to max_items
    script = Script({None: ([0, 1, 2, 3, 4], "a")})
    assert await items(script, page_size=2, max_items=3) == [e.id for e in EXPERIMENTS[:3]]
    assert script.requests == [(None, 2)]


async def test_a_failure_carries_the_cursor_of_the_page_that_failed() -> None:
    async def fetch(cursor: str | None, limit: int | None) -> dict[str, Any]:
        if cursor == "b":
            raise dd.ServerError(503, [])
        return {"items": [], "meta": {"after": "b"}}

    with pytest.raises(dd.ServerError) as info:
        await items(fetch, cursor="a")
    assert info.value.cursor == "b"


@pytest.mark.parametrize(
    ("pages", "failing_cursor"),
    [
        ({None: ([0], "a"), "a": ([1], "a")}, "a"),  # the cursor it was given
        ({None: ([0], "a"), "a": ([1], "b"), "b": ([2], "a")}, "b"),  # A, B, A
        ({None: ([0], "a"), "a": ([1], "b"), "b": ([2], None)}, None),  # no cycle: no error
    ],
)
async def test_a_cursor_seen_before_fails_the_stream(
    pages: dict[str | None, tuple[Sequence[int], str | None]], failing_cursor: str | None
) -> None:
    script = Script(pages)
    if failing_cursor is None:
        assert len(await items(script)) == 3
        return
    with pytest.raises(dd.ResponseValidationError, match="already seen") as info:
        await items(script)
    assert info.value.cursor == failing_cursor
    assert len(script.requests) == len(pages)


async def test_empty_pages_in_a_row_end_the_stream_even_with_max_items() -> None:
    endless = {None if i == 0 else str(i): ((), str(i + 1)) for i in range(50)}
    script = Script(endless)
    with pytest.raises(dd.ResponseValidationError, match="were empty") as info:
        await items(script, max_items=5, max_empty_pages=3)
    assert len(script.requests) == 4
    assert info.value.cursor == "3"


@pytest.mark.parametrize("ahead", [0, 1, 3])
async def test_reading_ahead_gives_the_same_items(ahead: int) -> None:
    pages = {None: ([0, 1], "a"), "a": ([2, 3], "b"), "b": ([4], "c"), "c": ([5, 6], None)}
    assert await items(Script(pages), ahead=ahead) == [e.id for e in EXPERIMENTS[:7]]
    assert await items(Script(pages), ahead=ahead, max_items=3) == [e.id for e in EXPERIMENTS[:3]]


async def test_reading_ahead_requests_the_next_page_before_this_one_is_built() -> None:
    order: list[str] = []
    script = Script({None: ([0], "a"), "a": ([1], None)})

    async def fetch(cursor: str | None, limit: int | None) -> dict[str, Any]:
        order.append(f"fetch {cursor}")
        return await script(cursor, limit)

    def traced_build(body: dict[str, Any], *, cursor: str | None) -> dd.ExperimentPage:
        order.append(f"build {cursor}")
        return build(body, cursor=cursor)

    pages = iter_pages(
        PageSource(fetch, traced_build, count, split),
        EXPERIMENT_PAGES,
        page_size=None,
        cursor=None,
        max_items=None,
        max_empty_pages=3,
        ahead=1,
    )
    assert [p.cursor async for p in pages] == [None, "a"]
    assert order.index("fetch a") < order.index("build None")  # on the wire while building


async def test_an_item_of_the_page_before_is_dropped_but_memory_is_one_page() -> None:
    script = Script({None: ([0, 1, 2], "a"), "a": ([2, 3, 4], "b"), "b": ([0, 5], None)})
    # item 2 repeats the page before: dropped; item 0 is two pages back: kept (one page only)
    assert await items(script) == [EXPERIMENTS[i].id for i in (0, 1, 2, 3, 4, 0, 5)]


async def test_a_large_page_is_structured_in_steps_with_the_loop_running_between() -> None:
    ticks = 0
    steps: list[int] = []

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    def counted_build(body: dict[str, Any], *, cursor: str | None) -> dd.ExperimentPage:
        steps.append(ticks)
        return build(body, cursor=cursor)

    script = Script({None: (list(range(12)) * 20, None)})  # 240 items: 4 steps
    beating = asyncio.create_task(heartbeat())
    pages = iter_pages(
        PageSource(script, counted_build, count, split),
        EXPERIMENT_PAGES,
        page_size=None,
        cursor=None,
        max_items=None,
        max_empty_pages=3,
    )
    (page,) = [p async for p in pages]
    beating.cancel()
    assert [e.id for e in page.experiments] == [EXPERIMENTS[i].id for i in range(12)] * 20
    assert len(steps) == 4 and len(set(steps)) == 4  # the loop ran between the steps


async def test_a_task_woken_during_a_step_runs_before_the_next_step() -> None:
    # A socket's or a timer's callback wakes a task one loop iteration later than the
    # callback itself; asyncio.sleep(0) between the steps let two steps run before it.
    loop = asyncio.get_running_loop()
    log: list[str] = []
    wake_up: asyncio.Future[None] = loop.create_future()

    async def other_request() -> None:
        nonlocal wake_up
        while True:
            await wake_up
            log.append("other")
            wake_up = loop.create_future()

    def traced_build(body: dict[str, Any], *, cursor: str | None) -> dd.ExperimentPage:
        log.append("step")
        if not wake_up.done():
            loop.call_soon(wake_up.set_result, None)  # e.g. data arrived on its socket
        return build(body, cursor=cursor)

    waiting = asyncio.create_task(other_request())
    await asyncio.sleep(0)
    pages = iter_pages(
        PageSource(Script({None: (list(range(12)) * 20, None)}), traced_build, count, split),
        EXPERIMENT_PAGES,
        page_size=None,
        cursor=None,
        max_items=None,
        max_empty_pages=3,
    )
    assert [len(p.experiments) async for p in pages] == [240]
    waiting.cancel()
    assert log[:7] == ["step", "other"] * 3 + ["step"]
