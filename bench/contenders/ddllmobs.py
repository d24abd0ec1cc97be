"""ddllmobs_async through its public API only.

``DDLLMOBS_NO_ORJSON=1`` in the environment (set by the runner's "plain install" rows) makes
the library use the standard library's ``json``, as without the ``speedups`` extra.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import ddllmobs_async as dd
import ddllmobs_async.export as dd_export  # pyarrow is imported by the export workload only
from bench.contenders._common import (
    API_KEY,
    APP_KEY,
    Result,
    Stopwatch,
    current_rss,
    experiment_id,
    heartbeat,
    main,
    project_id,
    read_page,
    run_batch,
    time_batch,
)


def _query() -> dd.AggregateQuery:
    return dd.AggregateQuery(
        compute=[dd.Compute("score_value", name="avg")],
        indexes=["experiment-evals"],
        query="*",
        group_by=["experiment_id"],
    )


def _client(args: argparse.Namespace, max_concurrency: int) -> dd.LLMObsClient:
    return dd.LLMObsClient(
        api_key=API_KEY, app_key=APP_KEY, base_url=args.url, max_concurrency=max_concurrency
    )


async def _consume(
    args: argparse.Namespace, result: Result, items: Callable[..., AsyncIterator[Any]]
) -> None:
    """Count the items of a stream; the optional page work and the budget between pages.

    With ``--heartbeat``, one page is streamed first, unmeasured (connection, first-use
    costs): the stall measured is the steady state's.
    """
    if args.heartbeat:
        async for _item in items(max_items=args.page_size):
            pass
    async with heartbeat(args.heartbeat, result):
        clock = Stopwatch(args.budget)
        rss = 0
        async for _item in items():
            result.items += 1
            if result.items % args.page_size == 0:
                if args.page_work:
                    await asyncio.sleep(args.page_work / 1000)  # e.g. writing the page somewhere
                rss = max(rss, current_rss())
                if clock.over_budget():
                    result.truncated = True
                    break
        result.elapsed = clock.elapsed()
    result.requests = -(-result.items // args.page_size)
    result.extra["rss_sampled_max"] = rss


async def stream(args: argparse.Namespace, result: Result) -> None:
    async with _client(args, 64) as client:
        items = functools.partial(
            client.list_experiments,
            project_id=project_id(args.total),
            page_size=args.page_size,
            prefetch=args.prefetch,
        )
        await _consume(args, result, items)


async def events(args: argparse.Namespace, result: Result) -> None:
    async with _client(args, 64) as client:
        items = functools.partial(
            client.list_experiment_events,
            experiment_id(args.total),
            page_size=args.page_size,
            prefetch=args.prefetch,
        )
        await _consume(args, result, items)


async def export(args: argparse.Namespace, result: Result) -> None:
    """``export_experiments`` into a fresh temporary directory, removed afterwards.

    pyarrow is imported before the clock starts. With ``--heartbeat``, one page is streamed
    and converted with ``experiments_table`` first, unmeasured, as the stream does.
    """
    export_experiments = dd_export.export_experiments  # imports pyarrow
    project, size = project_id(args.total), args.page_size
    async with _client(args, 64) as client:
        if args.heartbeat:
            first = client.list_experiments(project_id=project, page_size=size, max_items=size)
            dd_export.experiments_table([e async for e in first])
        with tempfile.TemporaryDirectory(prefix="ddllmobs-bench-export-") as directory:
            async with heartbeat(args.heartbeat, result):
                clock = Stopwatch()
                summary = await export_experiments(
                    client, directory, project_id=project, page_size=size
                )
                result.elapsed = clock.elapsed()
    result.items, result.requests = summary.rows, summary.pages
    result.extra["files"] = summary.files


async def structure(args: argparse.Namespace, result: Result) -> None:
    raw = await read_page(args.page_file)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        page = dd.parse_experiment_page(raw)
        times.append(time.perf_counter() - start)
        result.items = len(page.experiments)
        del page
    result.elapsed = statistics.median(times)
    result.extra["times"] = times


async def aggregate(args: argparse.Namespace, result: Result) -> None:
    query = _query()
    # The client's own max_concurrency is the one bound (a user's semaphore on top would be a
    # second one); raw aiohttp and the official client bound theirs with a semaphore.
    async with _client(args, args.concurrency) as client:

        async def one() -> None:
            res = await client.aggregate(query)
            result.items += len(res.buckets)

        await time_batch(args, result, one)
        result.requests = args.count


async def batch(args: argparse.Namespace, result: Result) -> None:
    query = _query()
    async with _client(args, args.concurrency) as client:

        async def gathered() -> None:
            results = await asyncio.gather(*(client.aggregate(query) for _ in range(args.count)))
            result.items = sum(len(r.buckets) for r in results)

        async def many() -> None:
            results = await client.aggregate_many(
                [query] * args.count, concurrency=args.concurrency
            )
            result.items = sum(len(r.buckets) for r in results if isinstance(r, dd.AggregateResult))

        await run_batch(args, result, many if args.batch_api == "many" else gathered)
        result.requests = args.count


if __name__ == "__main__":
    raise SystemExit(
        main(
            "ddllmobs",
            {
                "stream": stream,
                "events": events,
                "structure": structure,
                "aggregate": aggregate,
                "ratelimited": aggregate,
                "batch": batch,
                "export": export,
            },
        )
    )
