"""What every contender shares: arguments, timing, memory readings, the JSON result line.

A contender module defines one coroutine per workload it supports and calls :func:`main`.
The runner starts ``python -m bench.contenders.NAME --workload W ...`` in a fresh process per
run and reads the last stdout line that starts with ``RESULT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import statistics
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

API_KEY = "bench-api-key"
APP_KEY = "bench-app-key"
LIST_PATH = "/api/v2/llm-obs/v1/experiments"
ANALYTICS_PATH = "/api/v2/llm-obs/v1/experimentation/analytics"
EVENTS_PATH = "/api/v2/llm-obs/v3/experiments/{experiment_id}/events"
WORKLOADS = ("stream", "events", "structure", "aggregate", "ratelimited", "batch", "export")


@dataclass
class Result:
    """One contender run; printed as ``RESULT {json}``."""

    contender: str
    workload: str
    elapsed: float = 0.0
    items: int = 0
    requests: int = 0
    status_429: int = 0
    truncated: bool = False
    rss_start: int = 0
    peak_rss: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def current_rss() -> int:
    """Resident set size of this process in bytes (``/proc``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss()


def peak_rss() -> int:
    """Peak RSS of this process in bytes (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def project_id(total: int) -> str:
    """The fake server lists ``total`` experiments for project ``bench-<total>``."""
    return f"bench-{total}"


def experiment_id(total: int) -> str:
    """The fake server's experiment ``bench-<total>`` has ``total`` spans."""
    return f"bench-{total}"


def aggregate_body() -> dict[str, Any]:
    """The JSON:API analytics request every contender sends (same as the library's query)."""
    return {
        "data": {
            "type": "experimentation",
            "attributes": {
                "aggregate": {
                    "compute": [{"metric": "score_value", "name": "avg"}],
                    "indexes": ["experiment-evals"],
                    "search": {"query": "*"},
                    "group_by": [{"field": "experiment_id"}],
                }
            },
        }
    }


def parse_args(name: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"bench.contenders.{name}")
    parser.add_argument("--workload", choices=WORKLOADS, required=True)
    parser.add_argument("--url", default="", help="base URL of the fake server")
    parser.add_argument("--total", type=int, default=100_000, help="experiments to stream")
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--page-file", default="", help="page bytes for --workload structure")
    parser.add_argument("--repeat", type=int, default=5, help="structure: repetitions")
    parser.add_argument("--count", type=int, default=1000, help="aggregate requests")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--budget", type=float, default=0.0, help="seconds; stop early and report truncated"
    )
    parser.add_argument(
        "--prefetch", type=int, default=0, help="stream: pages read ahead (ddllmobs_async only)"
    )
    parser.add_argument(
        "--page-work", type=float, default=0.0, help="stream: ms of async work after each page"
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=0.0,
        help="ms: run a heartbeat task at this interval and report the longest loop stall",
    )
    parser.add_argument(
        "--json", choices=("orjson", "stdlib"), default="orjson", help="raw_aiohttp: JSON parser"
    )
    parser.add_argument(
        "--batch-api",
        choices=("gather", "many"),
        default="gather",
        help="batch: one asyncio.gather of aggregate() calls, or aggregate_many (ddllmobs)",
    )
    parser.add_argument("--profile", default="", help="write a pyinstrument profile here")
    return parser.parse_args(argv)


Workload = Callable[[argparse.Namespace, Result], Awaitable[None]]


async def _run(workload: Workload, args: argparse.Namespace, result: Result) -> None:
    if not args.profile:
        await workload(args, result)
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="enabled")
    profiler.start()
    try:
        await workload(args, result)
    finally:
        profiler.stop()
        text = profiler.output_text(unicode=True, show_all=False)
        await asyncio.to_thread(Path(args.profile).write_text, text)


async def read_page(path: str) -> bytes:
    """The page bytes for ``--workload structure`` (read off the loop)."""
    return await asyncio.to_thread(Path(path).read_bytes)


def main(name: str, workloads: dict[str, Workload], argv: list[str] | None = None) -> int:
    """Parse arguments, run one workload, print ``RESULT {json}``; exit 0 even on failure."""
    args = parse_args(name, argv)
    result = Result(contender=name, workload=args.workload)
    workload = workloads.get(args.workload)
    if workload is None:
        result.error = "n/a: workload not supported by this contender"
    else:
        result.rss_start = current_rss()
        try:
            asyncio.run(_run(workload, args, result))
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            result.error = f"{type(exc).__name__}: {exc}"[:300]
    if args.workload in ("stream", "events"):
        result.extra["target_items"] = args.total
    result.peak_rss = peak_rss()
    sys.stdout.write("RESULT " + orjson.dumps(asdict(result)).decode() + "\n")
    sys.stdout.flush()
    return 0


async def time_batch(
    args: argparse.Namespace, result: Result, one: Callable[[], Awaitable[None]]
) -> None:
    """Time ``args.count`` calls of ``one`` gathered (their bound is the contender's own).

    Aggregates: one concurrent wave first (connections opened), then ``args.repeat`` timed
    batches, each after a ``gc.collect()``; ``elapsed`` is their median and the counters are
    the last batch's. Every contender gets the same treatment, so the numbers compare
    steady-state throughput, and a 0.1 s batch that met a noisy moment of the machine does
    not decide the run. The rate-limited workload is timed once, cold: a warm-up or a second
    batch would spend its budget.
    """
    if args.workload != "aggregate":
        clock = Stopwatch()
        await asyncio.gather(*(one() for _ in range(args.count)))
        result.elapsed = clock.elapsed()
        return
    await asyncio.gather(*(one() for _ in range(args.concurrency)))
    times = []
    for _ in range(args.repeat):
        result.items = result.requests = result.status_429 = 0
        gc.collect()
        clock = Stopwatch()
        await asyncio.gather(*(one() for _ in range(args.count)))
        times.append(clock.elapsed())
    result.elapsed = statistics.median(times)
    result.extra["times"] = times


def json_loads(kind: str) -> Callable[[bytes], Any]:
    """``orjson.loads`` or the standard library's ``json.loads`` (a plain install)."""
    return orjson.loads if kind == "orjson" else json.loads


def json_dumps(kind: str) -> Callable[[Any], bytes]:
    if kind == "orjson":
        return orjson.dumps
    return lambda obj: json.dumps(obj, separators=(",", ":")).encode()


@contextlib.asynccontextmanager
async def heartbeat(interval_ms: float, result: Result) -> AsyncIterator[None]:
    """Measure event-loop stalls: a task sleeps ``interval_ms`` over and over.

    A stall is how much later than asked the task woke up: the time some callback held the
    loop (decoding a page, building models...). Recorded in ``result.extra``: ``stall_max``,
    ``stall_p99`` (seconds) and ``stalls_over_10ms``. ``interval_ms`` 0 measures nothing.
    """
    if not interval_ms:
        yield
        return
    interval = interval_ms / 1000
    stalls: list[float] = []

    async def beat() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(interval)
            stalls.append(max(time.perf_counter() - before - interval, 0.0))

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        ordered = sorted(stalls) or [0.0]
        result.extra["stall_max"] = ordered[-1]
        result.extra["stall_p99"] = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        result.extra["stalls_over_10ms"] = sum(1 for s in ordered if s > 0.010)
        result.extra["heartbeats"] = len(stalls)
        # the largest ones, for the typical stall per page (the runner knows the page count)
        result.extra["stalls_top"] = [round(s, 6) for s in ordered[-2000:]]


class BatchProbe:
    """What a batch of waiting calls holds: GC collections and objects alive per waiting call.

    ``start()`` before the batch, ``sample()`` once while the calls wait (from a side task, see
    :func:`run_batch`), ``finish()`` after. The sampling pause (``gc.get_objects()`` walks the
    heap) is subtracted from the batch time by the caller.
    """

    def __init__(self) -> None:
        self.paused = 0.0
        self.objects_before = 0
        self.collections_before = [0, 0, 0]
        self.extra: dict[str, Any] = {}

    def start(self) -> None:
        gc.collect()
        self.objects_before = len(gc.get_objects())
        self.collections_before = [s["collections"] for s in gc.get_stats()]

    def sample(self, waiting: int) -> None:
        start = time.perf_counter()
        alive = len(gc.get_objects()) - self.objects_before
        self.extra["tasks_alive_at_sample"] = waiting
        self.extra["objects_per_waiting_call"] = alive / max(waiting, 1)
        self.paused += time.perf_counter() - start

    def finish(self) -> None:
        after = [s["collections"] for s in gc.get_stats()]
        self.extra["gc_collections"] = [
            a - b for a, b in zip(after, self.collections_before, strict=True)
        ]


async def run_batch(
    args: argparse.Namespace, result: Result, batch: Callable[[], Awaitable[None]]
) -> None:
    """Time one cold batch of ``args.count`` calls (no warm-up); probe it while it waits."""
    probe = BatchProbe()
    probe.start()
    result.extra["rss_before_batch"] = current_rss()

    async def sample_when_all_wait() -> None:
        # Three loop iterations: the batch's tasks are created, then each has run its first
        # step (the first `concurrency` calls are on the wire, the others wait their turn).
        for _ in range(3):
            await asyncio.sleep(0)
        probe.sample(len(asyncio.all_tasks()) - 2)  # not this task, not the main one

    clock = Stopwatch()
    sampler = asyncio.create_task(sample_when_all_wait())
    try:
        await batch()
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    result.elapsed = clock.elapsed() - probe.paused
    probe.finish()
    result.extra.update(probe.extra)
    result.extra["sampling_pause"] = probe.paused


class Stopwatch:
    """``perf_counter`` timer with a soft budget (0 = none)."""

    def __init__(self, budget: float = 0.0) -> None:
        self.budget = budget
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over_budget(self) -> bool:
        return self.budget > 0 and self.elapsed() > self.budget
