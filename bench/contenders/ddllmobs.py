"""ddllmobs_async through its public API (structuring: the internal page converter)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import ddllmobs_async as dd
from bench.contenders._common import (
    API_KEY,
    APP_KEY,
    Result,
    Stopwatch,
    current_rss,
    main,
    project_id,
    read_page,
    time_batch,
)


def _query() -> dd.AggregateQuery:
    return dd.AggregateQuery(
        compute=[dd.Compute("score_value", name="avg")],
        indexes=["experiment-evals"],
        query="*",
        group_by=["experiment_id"],
    )


async def stream(args: argparse.Namespace, result: Result) -> None:
    async with dd.LLMObsClient(
        api_key=API_KEY, app_key=APP_KEY, base_url=args.url, max_concurrency=64
    ) as client:
        clock = Stopwatch(args.budget)
        rss = 0
        async for _exp in client.list_experiments(
            project_id=project_id(args.total), page_size=args.page_size, prefetch=args.prefetch
        ):
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


def _page_structurer() -> Callable[[bytes], Any] | None:
    """``ddllmobs_async._converters.structure_experiment_page`` if this version has it."""
    try:
        module = importlib.import_module("ddllmobs_async._converters")
    except ImportError:
        return None
    func: Callable[[bytes], Any] | None = getattr(module, "structure_experiment_page", None)
    return func


def _count(page: Any) -> int:
    for attr in ("experiments", "data", "items"):
        value = getattr(page, attr, None)
        if value is not None:
            return len(value)
    return len(page)


async def structure(args: argparse.Namespace, result: Result) -> None:
    structure_page = _page_structurer()
    if structure_page is None:
        result.error = "n/a: ddllmobs_async._converters.structure_experiment_page missing"
        return
    raw = await read_page(args.page_file)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        page = structure_page(raw)
        times.append(time.perf_counter() - start)
        result.items = _count(page)
        del page
    result.elapsed = statistics.median(times)
    result.extra["times"] = times


async def aggregate(args: argparse.Namespace, result: Result) -> None:
    query = _query()
    # The client's own max_concurrency is the one bound (a user's semaphore on top would be a
    # second one); raw aiohttp and the official client bound theirs with a semaphore.
    async with dd.LLMObsClient(
        api_key=API_KEY, app_key=APP_KEY, base_url=args.url, max_concurrency=args.concurrency
    ) as client:

        async def one() -> None:
            res = await client.aggregate(query)
            result.items += len(res.buckets)

        await time_batch(args, result, one)
        result.requests = args.count


if __name__ == "__main__":
    raise SystemExit(
        main(
            "ddllmobs",
            {
                "stream": stream,
                "structure": structure,
                "aggregate": aggregate,
                "ratelimited": aggregate,
            },
        )
    )
