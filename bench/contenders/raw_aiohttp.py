"""The floor: aiohttp + orjson.loads (or stdlib ``json``), no models, no retries beyond 429.

What any client must do at least: send the requests, read the bytes, parse JSON, walk the
cursor. ``ddllmobs_async`` is measured against this; ``--json stdlib`` is the floor of a plain
install (no orjson).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import aiohttp

from bench.contenders._common import (
    ANALYTICS_PATH,
    API_KEY,
    APP_KEY,
    EVENTS_PATH,
    LIST_PATH,
    Result,
    Stopwatch,
    aggregate_body,
    current_rss,
    experiment_id,
    heartbeat,
    json_dumps,
    json_loads,
    main,
    project_id,
    read_page,
    run_batch,
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


async def _walk(
    args: argparse.Namespace, result: Result, url: str, params: dict[str, Any], items: Any
) -> None:
    """GET pages following ``meta.after``; ``items(doc)`` is the page's list of items.

    With ``--heartbeat``, one page is fetched first, unmeasured (connection, first-use costs):
    the stall measured is the steady state's.
    """
    loads = json_loads(args.json)
    async with _session(8) as session:
        if args.heartbeat:
            query = {**params, "page[limit]": args.page_size}
            async with session.get(url, params=query) as resp:
                loads(await resp.read())
        async with heartbeat(args.heartbeat, result):
            await _pages(args, result, session, url, params, items, loads)


async def _pages(
    args: argparse.Namespace,
    result: Result,
    session: aiohttp.ClientSession,
    url: str,
    params: dict[str, Any],
    items: Any,
    loads: Any,
) -> None:
    clock = Stopwatch(args.budget)
    cursor: str | None = None
    rss = 0
    while True:
        query = {**params, "page[limit]": args.page_size}
        if cursor:
            query["page[cursor]"] = cursor
        async with session.get(url, params=query) as resp:
            resp.raise_for_status()
            body = await resp.read()
        result.requests += 1
        doc = loads(body)
        for _item in items(doc):
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


async def stream(args: argparse.Namespace, result: Result) -> None:
    params = {"filter[project_id]": project_id(args.total)}
    await _walk(args, result, args.url + LIST_PATH, params, lambda doc: doc["data"])


async def events(args: argparse.Namespace, result: Result) -> None:
    url = args.url + EVENTS_PATH.format(experiment_id=experiment_id(args.total))
    await _walk(args, result, url, {}, lambda doc: doc["data"]["attributes"]["spans"])


async def structure(args: argparse.Namespace, result: Result) -> None:
    loads = json_loads(args.json)
    raw = await read_page(args.page_file)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        doc: Any = loads(raw)
        times.append(time.perf_counter() - start)
        result.items = len(doc["data"])
        del doc
    result.elapsed = statistics.median(times)
    result.extra["times"] = times


async def aggregate(args: argparse.Namespace, result: Result) -> None:
    body = aggregate_body()
    loads, dumps = json_loads(args.json), json_dumps(args.json)
    sem = asyncio.Semaphore(args.concurrency)
    url = args.url + ANALYTICS_PATH
    headers = {"Content-Type": "application/json"}

    async with _session(args.concurrency) as session:

        async def one() -> None:
            async with sem:
                while True:
                    async with session.post(url, data=dumps(body), headers=headers) as resp:
                        result.requests += 1
                        if resp.status == 429:
                            result.status_429 += 1
                            reset = float(resp.headers.get("x-ratelimit-reset", "1"))
                            await resp.read()
                        else:
                            resp.raise_for_status()
                            doc = loads(await resp.read())
                            result.items += len(doc["data"]["attributes"]["result"]["values"])
                            return
                    await asyncio.sleep(reset)

        if args.workload == "batch":

            async def batch() -> None:
                await asyncio.gather(*(one() for _ in range(args.count)))

            await run_batch(args, result, batch)
            return
        await time_batch(args, result, one)


if __name__ == "__main__":
    raise SystemExit(
        main(
            "raw_aiohttp",
            {
                "stream": stream,
                "events": events,
                "structure": structure,
                "aggregate": aggregate,
                "ratelimited": aggregate,
                "batch": aggregate,
            },
        )
    )
