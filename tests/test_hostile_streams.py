"""Issue 10, point 5: streams end against servers that cycle cursors or send empty pages forever.

Every stream is bounded by ``asyncio.timeout``: today's code streams duplicates (or empty
pages) for ever, so these tests fail by timing out instead of hanging CI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ddllmobs_async as dd
from tests.raw_servers import Reply, Request, page, serving

T = TypeVar("T")
FAST = dd.RetryPolicy(max_retries=0)


async def collect(
    stream: AsyncGenerator[T], *, within: float = 3.0, into: list[T] | None = None
) -> list[T]:
    """Everything ``stream`` yields, closing it; a stream still going after ``within`` fails."""
    found: list[T] = [] if into is None else into
    async with aclosing(stream), asyncio.timeout(within):
        async for item in stream:
            found.append(item)
    return found


def ids_of(experiments: list[dd.Experiment]) -> list[str]:
    return [e.id for e in experiments]


class Pages:
    """Serves pages by the cursor asked for: ``{cursor: (ids, next cursor)}``."""

    def __init__(self, pages: Mapping[str | None, tuple[list[str], str | None]]) -> None:
        self.pages = pages
        self.asked: list[str | None] = []

    def __call__(self, request: Request) -> Reply:
        cursor = request.param("page[cursor]")
        self.asked.append(cursor)
        ids, after = self.pages[cursor]
        return Reply(200, page(ids, after))


CYCLE_ABA = {None: (["e1"], "A"), "A": (["e2"], "B"), "B": (["e3"], "A")}
CYCLE_ABCB = {None: (["e1"], "A"), "A": (["e2"], "B"), "B": (["e3"], "C"), "C": (["e4"], "B")}


@pytest.mark.parametrize(
    ("pages", "repeating_page"), [(CYCLE_ABA, "B"), (CYCLE_ABCB, "C")], ids=["ABA", "ABCB"]
)
async def test_a_cursor_seen_before_in_the_stream_ends_it(
    pages: dict[str | None, tuple[list[str], str | None]], repeating_page: str
) -> None:
    server_pages = Pages(pages)
    found: list[dd.Experiment] = []
    async with serving(server_pages, retry_policy=FAST) as (_server, client):
        with pytest.raises(dd.ResponseValidationError) as caught:
            await collect(client.list_experiments(project_id="p1"), into=found)
    seen = ids_of(found)
    assert caught.value.cursor == repeating_page  # the page that sent the repeated cursor
    every_page = [ids[0] for ids, _after in pages.values()]
    # each page once, no duplicate (the failing page's items may or may not have been yielded)
    assert seen in (every_page, every_page[:-1])
    assert len(server_pages.asked) == len(pages)


async def test_a_cursor_cycle_ends_the_page_stream_too() -> None:
    async with serving(Pages(CYCLE_ABA), retry_policy=FAST) as (_server, client):
        pages: list[dd.ExperimentPage] = []
        with pytest.raises(dd.ResponseValidationError) as caught:
            await collect(client.list_experiment_pages(project_id="p1"), into=pages)
    assert caught.value.cursor == "B"
    assert [p.cursor for p in pages] in ([None, "A", "B"], [None, "A"])


async def test_get_experiments_does_not_buffer_a_cursor_cycle_for_ever() -> None:
    async with serving(Pages(CYCLE_ABA), retry_policy=FAST) as (_server, client):
        with pytest.raises(dd.ResponseValidationError):
            async with asyncio.timeout(3):
                await client.get_experiments(["e1", "e2"], project_id="p1")


class EndlessEmpty:
    """Every page is empty and carries a new cursor."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def __call__(self, request: Request) -> Reply:
        self.asked.append(request.param("page[cursor]"))
        return Reply(200, page([], after=f"c{len(self.asked)}"))


async def test_consecutive_empty_pages_end_the_stream_at_max_empty_pages() -> None:
    server_pages = EndlessEmpty()
    async with serving(server_pages, retry_policy=FAST, max_empty_pages=3) as (_server, client):
        with pytest.raises(dd.ResponseValidationError) as caught:
            await collect(client.list_experiments(project_id="p1"))
    assert 3 <= len(server_pages.asked) <= 4
    assert caught.value.cursor in server_pages.asked[1:]  # where to resume: a page's cursor


@pytest.mark.parametrize("options", [{}, {"max_items": 5}], ids=["default", "max_items"])
async def test_endless_empty_pages_end_with_the_default_bound(options: dict[str, Any]) -> None:
    server_pages = EndlessEmpty()
    async with serving(server_pages, retry_policy=FAST) as (_server, client):
        with pytest.raises(dd.ResponseValidationError):
            await collect(client.list_experiments(project_id="p1", **options), within=5)
    assert len(server_pages.asked) < 1000


async def test_empty_pages_that_are_not_consecutive_do_not_end_the_stream() -> None:
    pages: dict[str | None, tuple[list[str], str | None]] = {
        None: ([], "a"),
        "a": ([], "b"),
        "b": (["e1"], "c"),
        "c": ([], "d"),
        "d": ([], "e"),
        "e": (["e2"], None),
    }
    async with serving(Pages(pages), retry_policy=FAST, max_empty_pages=3) as (_server, client):
        found = await collect(client.list_experiments(project_id="p1"))
    assert ids_of(found) == ["e1", "e2"]


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3"])
def test_max_empty_pages_must_be_a_positive_int(bad: object) -> None:
    good: dict[str, Any] = {"max_empty_pages": 1}
    dd.LLMObsClient("k", "a", base_url="http://127.0.0.1:1", **good)  # the argument exists
    options: dict[str, Any] = {"max_empty_pages": bad}
    with pytest.raises((ValueError, TypeError), match="max_empty_pages"):
        dd.LLMObsClient("k", "a", base_url="http://127.0.0.1:1", **options)


OVERLAP = {
    None: (["e1", "e2"], "A"),
    "A": (["e2", "e3"], "B"),  # e2 again: the list moved under the cursor
    "B": (["e3", "e4"], None),
}


async def test_an_item_on_the_page_before_is_not_yielded_twice() -> None:
    async with serving(Pages(OVERLAP), retry_policy=FAST) as (_server, client):
        found = await collect(client.list_experiments(project_id="p1"))
    assert ids_of(found) == ["e1", "e2", "e3", "e4"]


async def test_dropped_duplicates_do_not_count_towards_max_items() -> None:
    async with serving(Pages(OVERLAP), retry_policy=FAST) as (_server, client):
        found = await collect(client.list_experiments(project_id="p1", max_items=3))
    assert ids_of(found) == ["e1", "e2", "e3"]


async def test_overlapping_pages_are_deduplicated_with_prefetch() -> None:
    async with serving(Pages(OVERLAP), retry_policy=FAST) as (_server, client):
        found = await collect(client.list_experiments(project_id="p1", prefetch=2))
    assert ids_of(found) == ["e1", "e2", "e3", "e4"]


class FreshCursorCycle:
    """Serves ``pages`` round and round for ever, every answer with a cursor never used before."""

    def __init__(self, pages: list[list[str]]) -> None:
        self.pages = pages
        self.asked = 0

    def __call__(self, request: Request) -> Reply:
        ids = self.pages[self.asked % len(self.pages)]
        self.asked += 1
        return Reply(200, page(ids, after=f"c{self.asked}"))


@pytest.mark.parametrize("prefetch", [0, 1])
async def test_pages_sent_again_with_fresh_cursors_end_the_stream(prefetch: int) -> None:
    server_pages = FreshCursorCycle([["e1", "e2"], ["e3"]])  # no cursor ever repeats
    found: list[dd.Experiment] = []
    async with serving(server_pages, retry_policy=FAST, max_empty_pages=3) as (_server, client):
        stream = client.list_experiments(project_id="p1", prefetch=prefetch)
        with pytest.raises(dd.ResponseValidationError, match="already delivered") as caught:
            await collect(stream, into=found)
    assert ids_of(found) == ["e1", "e2", "e3"]  # each once: the repeated pages were dropped
    repeats_read = 3 + 1  # max_empty_pages, then the one that ends it
    assert server_pages.asked - prefetch <= 2 + repeats_read <= server_pages.asked
    assert caught.value.cursor == f"c{2 + repeats_read - 1}"  # the page that said so


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(st.sampled_from(["e1", "e2", "e3", "e4", "e5"]), min_size=1, unique=True),
        min_size=1,
        max_size=5,
    )
)
async def test_any_cycle_of_pages_ends_after_one_round_and_max_empty_pages(
    cycle: list[list[str]],
) -> None:
    server_pages = FreshCursorCycle(cycle)
    found: list[dd.Experiment] = []
    async with serving(server_pages, retry_policy=FAST, max_empty_pages=2) as (_server, client):
        with pytest.raises(dd.ResponseValidationError):
            await collect(client.list_experiments(project_id="p1"), into=found)
    # from the second round on, every page was sent before, whole: nothing new
    assert server_pages.asked <= len(cycle) + 2 + 1
    assert len(found) <= sum(len(ids) for ids in cycle)


# --- a later page the client cannot read ----------------------------------------------------

UNREADABLE_PAGES = {
    "id not a string": b'{"data": [{"id": 5, "type": "experiments", "attributes": {}}]}',
    "meta.after not a string": b'{"data": [], "meta": {"after": 7}}',
    "a list, not an object": b"[]",
    "not JSON": b"{oops",
}


@pytest.mark.parametrize("prefetch", [0, 1])
@pytest.mark.parametrize("unreadable", UNREADABLE_PAGES.values(), ids=UNREADABLE_PAGES.keys())
async def test_an_unreadable_later_page_fails_with_its_cursor(
    unreadable: bytes, prefetch: int
) -> None:
    def answer(request: Request) -> Reply:
        if request.param("page[cursor]") is None:
            return Reply(200, page(["e1", "e2"], "A"))
        return Reply(200, unreadable)

    found: list[dd.Experiment] = []
    async with serving(answer, retry_policy=FAST) as (server, client):
        stream = client.list_experiments(project_id="p1", prefetch=prefetch)
        with pytest.raises(dd.ResponseValidationError) as caught:
            await collect(stream, into=found)
        assert ids_of(found) == ["e1", "e2"]
        assert caught.value.cursor == "A"  # resuming there neither skips nor repeats
        with pytest.raises(dd.ResponseValidationError):
            await collect(client.list_experiments(project_id="p1", cursor=caught.value.cursor))
        assert [r.param("page[cursor]") for r in server.requests] == [None, "A", "A"]
