"""Async generators over experiment pages and items: lazy, resumable, never yield twice.

A page is fetched (with its retries), read and structured completely before any of its items
is yielded, and the next page is requested only when the consumer asks for more, unless the
caller opted into reading ahead (:func:`read_ahead`). A failure carries the cursor of the page
that failed, so a job can resume exactly there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

from ddllmobs_async.errors import LLMObsError, ResponseValidationError
from ddllmobs_async.models import Experiment, ExperimentPage

FetchPage = Callable[[str | None, int | None], Awaitable[ExperimentPage]]


async def iter_pages(
    fetch_page: FetchPage, *, page_size: int | None, cursor: str | None, max_items: int | None
) -> AsyncGenerator[ExperimentPage]:
    """Follow ``meta.after`` until it is absent or empty (a short or empty page is not the end)."""
    remaining = max_items
    while remaining is None or remaining > 0:
        limit = page_size if remaining is None else min(page_size or remaining, remaining)
        try:
            page = await fetch_page(cursor, limit)
        except LLMObsError as error:
            error.cursor = cursor
            raise
        if remaining is not None:
            page = _truncate(page, remaining)
            remaining -= len(page.experiments)
        yield page
        next_cursor = page.next_cursor
        del page  # see iter_items
        if next_cursor is None:
            return
        if next_cursor == cursor:
            loop = ResponseValidationError(
                "the server returned the cursor it was given; stopping to avoid an endless loop",
                path="$.meta.after",
            )
            loop.cursor = cursor
            raise loop
        cursor = next_cursor


async def iter_items(pages: AsyncIterator[ExperimentPage]) -> AsyncGenerator[Experiment]:
    """Flatten pages into experiments, fetching the next page only when this one is used up."""
    async for page in pages:
        experiments = page.experiments
        del page
        for experiment in experiments:
            yield experiment
        # Drop the used-up page before the next one is fetched, not after: it is freed by
        # refcount instead of being walked by the GC collections the next page triggers.
        del experiments


async def read_ahead(
    pages: AsyncGenerator[ExperimentPage], ahead: int
) -> AsyncGenerator[ExperimentPage]:
    """Yield ``pages`` while up to ``ahead`` further pages are fetched in the background.

    The pages after the one being consumed are requested by one background task, in order
    (each needs the cursor of the one before). At most ``ahead`` of them are fetched or held
    besides the consumer's page, so memory stays bounded. A failure is raised where that page
    would have been yielded, after every page before it, with its cursor, as without reading
    ahead. Closing or cancelling the consumer cancels the fetch in flight and closes ``pages``.
    """
    ready: asyncio.Queue[ExperimentPage | Exception | asyncio.Task[None] | None] = asyncio.Queue()
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

    producer = asyncio.create_task(produce())
    # Queued after anything it queued: a producer that died without a word (cancelled from
    # outside, a BaseException) still wakes the consumer instead of leaving it waiting.
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
        return RuntimeError("the task reading pages ahead was cancelled from outside the stream")
    error = task.exception()
    return error if error is not None else RuntimeError("the page read-ahead ended early")


def _truncate(page: ExperimentPage, remaining: int) -> ExperimentPage:
    if len(page.experiments) <= remaining:
        return page
    return ExperimentPage(
        experiments=page.experiments[:remaining], next_cursor=page.next_cursor, cursor=page.cursor
    )
