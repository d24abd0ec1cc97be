"""Async generators over cursor pages and their items: lazy, resumable, bounded.

A page is fetched (with its retries), read and structured completely before any of its items
is yielded, and the next page is requested only when the consumer asks for more, unless the
caller opted into reading ahead (:func:`read_ahead`). A failure carries the cursor of the page
that failed, so a job can resume exactly there.

Whatever the server says, a stream ends: a cursor seen before in the same stream, or more
than ``max_empty_pages`` pages in a row with nothing new (empty, or only items already
delivered), fail it with :class:`ResponseValidationError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from contextlib import aclosing
from typing import Any, Generic, TypeVar

import attrs

from ddllmobs_async._constants import MAX_PAGE_SIZE
from ddllmobs_async._converters.jsonapi import next_cursor
from ddllmobs_async._responses import gc_paused
from ddllmobs_async._turns import let_others_run
from ddllmobs_async.errors import LLMObsError, ResponseValidationError

P = TypeVar("P")
T = TypeVar("T")
FetchBody = Callable[[str | None, int | None], Awaitable[Any]]
Spawn = Callable[[Any], "asyncio.Task[Any]"]


@attrs.frozen
class PageShape(Generic[P, T]):
    """How the paginator reads one endpoint's page model.

    Attributes:
        items: The page's items.
        with_items: The same page holding other items (truncated or de-duplicated).
        key: An item's identity, to drop an item the stream already delivered; it returns
            ``None`` for an item without identity, which is never dropped (``key=None``:
            items have no identity, nothing is dropped).
    """

    items: Callable[[P], list[T]]
    with_items: Callable[[P, list[T]], P]
    key: Callable[[T], Hashable] | None = None


@attrs.frozen
class PageSource(Generic[P]):
    """Where one stream's pages come from.

    Attributes:
        fetch_body: ``(cursor, limit)`` -> the decoded JSON:API body of that page (retried).
        structure: ``(body, cursor=...)`` -> the page model.
        count: How many items a body holds, before structuring (0 for a malformed one).
        split: ``(body, parts)`` -> bodies of the same shape, each with a slice of the items,
            so a page is structured in steps with the event loop running in between.
    """

    fetch_body: FetchBody
    structure: Callable[..., P]
    count: Callable[[Any], int]
    split: Callable[[Any, int], list[Any]]


class _Wanted:
    """What the consumer still wants, as the fetching side (maybe ahead of it) reads it.

    ``remaining`` is exact (items yielded so far); ``in_transit`` counts the items of bodies
    fetched but not yet consumed, so reading ahead never asks for more than max_items.
    """

    def __init__(self, remaining: int | None) -> None:
        self.remaining = remaining
        self.in_transit = 0
        self._consumed = asyncio.Event()

    def consumed(self, fetched: int, kept: int) -> None:
        self.in_transit -= fetched
        if self.remaining is not None:
            self.remaining -= min(kept, self.remaining)
        self._consumed.set()

    async def next_limit(self, page_size: int | None) -> int | None:
        """The next request's ``page[limit]``, once the consumer may still want something."""
        if self.remaining is None:
            return page_size
        while (wanted := self.remaining - self.in_transit) <= 0:
            self._consumed.clear()  # only ahead of the consumer: wait until it has read on
            await self._consumed.wait()
        return min(page_size or MAX_PAGE_SIZE, wanted)


async def iter_pages(
    source: PageSource[P],
    shape: PageShape[P, Any],
    *,
    page_size: int | None,
    cursor: str | None,
    max_items: int | None,
    max_empty_pages: int,
    ahead: int = 0,
    spawn: Spawn = asyncio.create_task,
) -> AsyncGenerator[P]:
    """Follow ``meta.after`` until it is absent or empty (a short or empty page is not the end).

    With ``ahead``, bodies are fetched by a background task up to ``ahead`` pages in advance
    (:func:`read_ahead`), and each page is structured here, on the consumer's side: page
    N+1's request is on the wire while page N's models are built.
    """
    if max_items == 0:
        return
    wanted = _Wanted(max_items)
    bodies = _follow_cursors(source, wanted, page_size=page_size, cursor=cursor)
    if ahead:
        bodies = read_ahead(bodies, ahead, spawn)
    seen = _SeenItems(shape)
    empty_in_a_row = 0
    resume_at = cursor  # where the pages not yet delivered begin
    async with aclosing(bodies):
        try:
            async for page_cursor, body, after, fetched in bodies:
                page = await _structure_page(source, shape, body, page_cursor, fetched)
                del body
                page = seen.drop_repeated(page)
                count = len(shape.items(page))
                if wanted.remaining is not None:
                    page = _truncate(page, shape, wanted.remaining)
                wanted.consumed(fetched, count)
                empty_in_a_row = 0 if count else empty_in_a_row + 1
                yield page
                del page  # not held while the next page is fetched: one page alive, not two
                resume_at = after
                if after is None or wanted.remaining == 0:
                    return
                if empty_in_a_row > max_empty_pages:
                    raise _stream_error(
                        f"sent {empty_in_a_row} pages in a row that were empty or held only items "
                        "already delivered "
                        f"(max_empty_pages={max_empty_pages})",
                        page_cursor,
                    )
        except ReadAheadStopped as error:
            error.cursor = resume_at
            raise


# A page is structured in this many steps at most, each in its own turn of the event loop:
# structuring costs about 1.5x decoding, so a quarter of a page holds the loop for less time
# than decoding it did (the floor any client has). Measured in bench "loop stall".
_STRUCTURE_STEPS = 4
_ITEMS_PER_STEP_AT_LEAST = 50


async def _structure_page(
    source: PageSource[P], shape: PageShape[P, Any], body: Any, cursor: str | None, count: int
) -> P:
    """The page's model; a body that does not fit it fails with the cursor that fetched it."""
    try:
        return await _structure_in_steps(source, shape, body, cursor, count)
    except LLMObsError as error:
        error.cursor = cursor
        raise


async def _structure_in_steps(
    source: PageSource[P], shape: PageShape[P, Any], body: Any, cursor: str | None, count: int
) -> P:
    steps = max(1, min(_STRUCTURE_STEPS, count // _ITEMS_PER_STEP_AT_LEAST))
    parts = source.split(body, steps) if steps > 1 else [body]
    pages: list[P] = []
    for part in parts:
        await let_others_run()  # decoding, then each step, holds the loop on its own
        with gc_paused():
            pages.append(source.structure(part, cursor=cursor))
    if len(pages) == 1:
        return pages[0]
    return shape.with_items(pages[0], [item for page in pages for item in shape.items(page)])


async def _follow_cursors(
    source: PageSource[Any], wanted: _Wanted, *, page_size: int | None, cursor: str | None
) -> AsyncGenerator[tuple[str | None, Any, str | None, int]]:
    """Each page's cursor, decoded body, next cursor and item count, following
    ``meta.after``; a cursor seen before in the stream ends it."""
    seen_cursors: set[str | None] = {cursor}
    while True:
        limit = await wanted.next_limit(page_size)
        try:
            body = await source.fetch_body(cursor, limit)
            after = next_cursor(body) if isinstance(body, dict) else None
        except LLMObsError as error:
            error.cursor = cursor
            raise
        fetched = source.count(body)
        wanted.in_transit += fetched
        yield cursor, body, after, fetched
        del body
        if after is None:
            return
        if after in seen_cursors:
            raise _stream_error(
                "returned a cursor already seen in this stream; stopping to avoid a loop", cursor
            )
        seen_cursors.add(after)
        cursor = after


def _stream_error(problem: str, cursor: str | None) -> ResponseValidationError:
    """The error that ends a stream going round, with the cursor of the page that said so."""
    error = ResponseValidationError(f"the server {problem}", path="$.meta.after")
    error.cursor = cursor
    return error


class _SeenItems(Generic[P]):
    """What the stream delivered, to drop what the server sends again.

    Items of the page before are dropped one by one (a list that moved under the cursor
    overlaps it). A page whose items all came, as a whole page, earlier in the stream is
    dropped whole: a server going round with fresh cursors. For that, a fingerprint of each
    page is kept (its size and the hash of its item keys), not the keys themselves. Items
    without identity (key ``None``) are never dropped, and a page holding one is never
    taken for another.
    """

    def __init__(self, shape: PageShape[P, Any]) -> None:
        self._shape = shape
        self._previous_keys: frozenset[Hashable] = frozenset()
        self._pages: set[tuple[int, int]] = set()

    def drop_repeated(self, page: P) -> P:
        shape = self._shape
        if shape.key is None:
            return page
        items = shape.items(page)
        keys = frozenset(shape.key(item) for item in items)
        identified = None not in keys
        previous_keys = self._previous_keys
        self._previous_keys = keys if identified else keys - {None}
        if keys and identified:
            fingerprint = (len(keys), hash(keys))
            if fingerprint in self._pages:
                return shape.with_items(page, [])
            self._pages.add(fingerprint)
        if previous_keys.isdisjoint(keys):
            return page
        return shape.with_items(
            page, [item for item in items if shape.key(item) not in previous_keys]
        )


def _truncate(page: P, shape: PageShape[P, Any], remaining: int) -> P:
    items = shape.items(page)
    if len(items) <= remaining:
        return page
    return shape.with_items(page, items[:remaining])


# Items handed out in one turn of the event loop at most: a consumer draining a 5000-item
# page without awaiting anything would otherwise hold the loop for the whole page.
_ITEMS_PER_TURN = 1000


async def iter_items(pages: AsyncGenerator[P], shape: PageShape[P, T]) -> AsyncGenerator[T]:
    """Flatten pages into items, fetching the next page only when this one is used up."""
    async with aclosing(pages):
        async for page in pages:
            items = shape.items(page)
            del page
            for position, item in enumerate(items, 1):
                yield item
                if position % _ITEMS_PER_TURN == 0:
                    await let_others_run()
            del items  # the used-up page is freed before the next one is fetched


async def read_ahead(pages: AsyncGenerator[T], ahead: int, spawn: Spawn) -> AsyncGenerator[T]:
    """Yield ``pages`` while up to ``ahead`` further ones are fetched in the background.

    The pages after the one being consumed are requested by one background task (made by
    ``spawn``, so the client's ``close()`` stops it), in order: each needs the cursor of the
    one before. At most ``ahead`` of them are fetched or held besides the consumer's page. A
    failure is raised where that page would have been yielded, after every page before it,
    with its cursor. Closing or cancelling the consumer cancels the fetch in flight.
    """
    ready: asyncio.Queue[T | Exception | asyncio.Task[None] | None] = asyncio.Queue()
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


class ReadAheadStopped(LLMObsError):
    """The task reading pages ahead was stopped from outside the stream (``client.close()``)."""


def _why_it_stopped(task: asyncio.Task[None]) -> BaseException:
    if task.cancelled():
        return ReadAheadStopped(
            "the task reading pages ahead was cancelled from outside the stream "
            "(by client.close()?); resume with the error's cursor"
        )
    error = task.exception()
    return error if error is not None else RuntimeError("the page read-ahead ended early")
