"""Async generators over cursor pages and their items: lazy, resumable, bounded.

A page is fetched (with its retries), read and structured completely before any of its items
is yielded, and the next page is requested only when the consumer asks for more, unless the
caller opted into reading ahead (:func:`read_ahead`). A failure carries the cursor of the page
that failed, so a job can resume exactly there.

Whatever the server says, a stream ends: a cursor seen before in the same stream, or more
than ``max_empty_pages`` empty pages in a row, fail it with :class:`ResponseValidationError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from contextlib import aclosing
from typing import Any, Generic, TypeVar

import attrs

from ddllmobs_async.errors import LLMObsError, ResponseValidationError

P = TypeVar("P")
T = TypeVar("T")
FetchPage = Callable[[str | None, int | None], Awaitable[P]]
Spawn = Callable[[Any], "asyncio.Task[Any]"]


@attrs.frozen
class PageShape(Generic[P, T]):
    """How the paginator reads one endpoint's page model.

    Attributes:
        items: The page's items.
        next_cursor: The page's ``meta.after`` (``None`` on the last page).
        with_items: The same page holding other items (truncated or de-duplicated).
        key: An item's identity, to drop an item the page before already had (``None``:
            items have no identity, nothing is dropped).
    """

    items: Callable[[P], list[T]]
    next_cursor: Callable[[P], str | None]
    with_items: Callable[[P, list[T]], P]
    key: Callable[[T], Hashable] | None = None


async def iter_pages(
    fetch_page: FetchPage[P],
    shape: PageShape[P, Any],
    *,
    page_size: int | None,
    cursor: str | None,
    max_items: int | None,
    max_empty_pages: int,
) -> AsyncGenerator[P]:
    """Follow ``meta.after`` until it is absent or empty (a short or empty page is not the end)."""
    remaining = max_items
    seen_cursors: set[str | None] = {cursor}
    previous_keys: frozenset[Hashable] = frozenset()
    empty_in_a_row = 0
    while remaining is None or remaining > 0:
        limit = page_size if remaining is None else min(page_size or remaining, remaining)
        try:
            page = await fetch_page(cursor, limit)
        except LLMObsError as error:
            error.cursor = cursor
            raise
        page, previous_keys = _drop_repeated(page, shape, previous_keys)
        count = len(shape.items(page))
        if remaining is not None:
            page = _truncate(page, shape, remaining)
            remaining -= min(count, remaining)
        empty_in_a_row = 0 if count else empty_in_a_row + 1
        next_cursor = shape.next_cursor(page)
        yield page
        del page  # not held while the next page is fetched
        if next_cursor is None:
            return
        _check_progress(next_cursor, seen_cursors, empty_in_a_row, max_empty_pages, cursor)
        seen_cursors.add(next_cursor)
        cursor = next_cursor


def _check_progress(
    next_cursor: str,
    seen_cursors: set[str | None],
    empty_in_a_row: int,
    max_empty_pages: int,
    cursor: str | None,
) -> None:
    """Fail the stream (with the cursor of the page that said so) when it goes round."""
    if next_cursor in seen_cursors:
        problem = "returned a cursor already seen in this stream; stopping to avoid a loop"
    elif empty_in_a_row > max_empty_pages:
        problem = f"sent {empty_in_a_row} empty pages in a row (max_empty_pages={max_empty_pages})"
    else:
        return
    error = ResponseValidationError(f"the server {problem}", path="$.meta.after")
    error.cursor = cursor
    raise error


def _drop_repeated(
    page: P, shape: PageShape[P, Any], previous_keys: frozenset[Hashable]
) -> tuple[P, frozenset[Hashable]]:
    """Drop the items the page before already had (overlapping pages); remember this page's."""
    if shape.key is None:
        return page, previous_keys
    items = shape.items(page)
    keys = frozenset(shape.key(item) for item in items)
    if previous_keys.isdisjoint(keys):
        return page, keys
    fresh = [item for item in items if shape.key(item) not in previous_keys]
    return shape.with_items(page, fresh), keys


def _truncate(page: P, shape: PageShape[P, Any], remaining: int) -> P:
    items = shape.items(page)
    if len(items) <= remaining:
        return page
    return shape.with_items(page, items[:remaining])


async def iter_items(pages: AsyncGenerator[P], shape: PageShape[P, T]) -> AsyncGenerator[T]:
    """Flatten pages into items, fetching the next page only when this one is used up."""
    async with aclosing(pages):
        async for page in pages:
            items = shape.items(page)
            del page
            for item in items:
                yield item
            del items  # the used-up page is freed before the next one is fetched


async def read_ahead(pages: AsyncGenerator[P], ahead: int, spawn: Spawn) -> AsyncGenerator[P]:
    """Yield ``pages`` while up to ``ahead`` further pages are fetched in the background.

    The pages after the one being consumed are requested by one background task (made by
    ``spawn``, so the client's ``close()`` stops it), in order: each needs the cursor of the
    one before. At most ``ahead`` of them are fetched or held besides the consumer's page. A
    failure is raised where that page would have been yielded, after every page before it,
    with its cursor. Closing or cancelling the consumer cancels the fetch in flight.
    """
    ready: asyncio.Queue[P | Exception | asyncio.Task[None] | None] = asyncio.Queue()
    credits = asyncio.Semaphore(ahead + 1)  # the consumer's page holds one of them

    async def produce() -> None:
        while True:
            await credits.acquire()
            try:
                page = await anext(pages)
            except StopAsyncIteration:
                ready.put_nowait(None)
                return
            except Exception as error:  # handed to the consumer, in order
                ready.put_nowait(error)
                return
            ready.put_nowait(page)
            del page

    producer: asyncio.Task[None] = spawn(produce())
    # Queued after anything it queued: a producer that died without a word (cancelled from
    # outside, e.g. by close()) still wakes the consumer instead of leaving it waiting.
    producer.add_done_callback(ready.put_nowait)
    try:
        while (item := await ready.get()) is not None:
            if isinstance(item, asyncio.Task):
                raise _why_it_stopped(item)
            if isinstance(item, Exception):
                raise item
            yield item
            del item
            credits.release()
    finally:
        interrupted = await _stop(producer)
        await pages.aclose()
        if interrupted:
            raise asyncio.CancelledError


async def _stop(task: asyncio.Task[None]) -> bool:
    """Cancel ``task`` and wait until it has ended; True if we were cancelled meanwhile.

    A finished task is left alone without suspending (during ``asyncio.run``'s shutdown the
    generators are closed after every task has ended, and must not yield to the loop then).
    """
    if task.done():
        return False
    task.cancel()
    interrupted = False
    while not task.done():  # never leave a fetch running behind the consumer
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            interrupted = True
    return interrupted


def _why_it_stopped(task: asyncio.Task[None]) -> BaseException:
    if task.cancelled():
        return RuntimeError(
            "the task reading pages ahead was cancelled from outside the stream "
            "(by client.close()?)"
        )
    error = task.exception()
    return error if error is not None else RuntimeError("the page read-ahead ended early")
