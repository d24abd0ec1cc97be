"""The floor: aiohttp + orjson.loads, no models, no validation, no retries beyond 429.

What any client must do at least: send the requests, read the bytes, parse JSON, walk the
cursor. ``ddllmobs_async`` is measured against this.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import aiohttp
import orjson

from bench.contenders._common import (
    ANALYTICS_PATH,
    API_KEY,
    APP_KEY,
    LIST_PATH,
    Result,
    Stopwatch,
    aggregate_body,
    current_rss,
    main,
    project_id,
    read_page,
    time_batch,
)

HEADERS = {
    "DD-API-KEY": API_KEY,
    "DD-APPLICATION-KEY": APP_KEY,
    "Accept": "application/json",
}


def _session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit)
    return aiohttp.ClientSession(headers=HEADERS, connector=connector)


async def stream(args: argparse.Namespace, result: Result) -> None:
    async with _session(8) as session:
        clock = Stopwatch(args.budget)
        cursor: str | None = None
        rss = 0
        while True:
            params = {"filter[project_id]": project_id(args.total), "page[limit]": args.page_size}
            if cursor:
                params["page[cursor]"] = cursor
            async with session.get(args.url + LIST_PATH, params=params) as resp:
                resp.raise_for_status()
                body = await resp.read()
            result.requests += 1
            doc = orjson.loads(body)
            for _item in doc["data"]:
                result.items += 1
            cursor = (doc.get("meta") or {}).get("after")
            rss = max(rss, current_rss())
            del doc, body  # hold one page at a time
            if not cursor:
                break
            if clock.over_budget():
                result.truncated = True
                break
        result.elapsed = clock.elapsed()
        result.extra["rss_sampled_max"] = rss


async def structure(args: argparse.Namespace, result: Result) -> None:
    raw = await read_page(args.page_file)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        doc: Any = orjson.loads(raw)
        times.append(time.perf_counter() - start)
        result.items = len(doc["data"])
        del doc
    result.elapsed = statistics.median(times)
    result.extra["times"] = times


async def aggregate(args: argparse.Namespace, result: Result) -> None:
    body = aggregate_body()
    sem = asyncio.Semaphore(args.concurrency)
    url = args.url + ANALYTICS_PATH
    headers = {"Content-Type": "application/json"}

    async with _session(args.concurrency) as session:

        async def one() -> None:
            async with sem:
                while True:
                    async with session.post(url, data=orjson.dumps(body), headers=headers) as resp:
                        result.requests += 1
                        if resp.status == 429:
                            result.status_429 += 1
                            reset = float(resp.headers.get("x-ratelimit-reset", "1"))
                            await resp.read()
                        else:
                            resp.raise_for_status()
                            doc = orjson.loads(await resp.read())
                            result.items += len(doc["data"]["attributes"]["result"]["values"])
                            return
                    await asyncio.sleep(reset)

        await time_batch(args, result, one)


if __name__ == "__main__":
    raise SystemExit(
        main(
            "raw_aiohttp",
            {
                "stream": stream,
                "structure": structure,
                "aggregate": aggregate,
                "ratelimited": aggregate,
            },
        )
    )
