"""Batch size (issue 15, target 4): one cold batch of N aggregates at concurrency 64.

A fresh process per run and no warm-up: the batch as a script meets it. Raw aiohttp and ours
with one ``asyncio.gather`` of N calls; ours also with ``aggregate_many``. Time, peak RSS, GC
collections during the batch and objects alive per call while the calls wait.
"""

from __future__ import annotations

from bench._harness import OURS, OURS_MANY, RAW, Case, Run, label
from bench._scenario import (
    Cases,
    Plan,
    Scenario,
    Section,
    fmt_mib,
    fmt_s,
    fmt_x,
    peak_mib,
    ratio,
    table,
)
from bench.scenarios._common import NO_LATENCY

CONCURRENCY = 64
LARGE, LARGE_RUNS = 50_000, 3  # tens of seconds per run: three runs keep the bench in budget


def sizes(plan: Plan) -> tuple[int, ...]:
    return (500, 5000) if plan.quick else (500, 5000, 50_000)


def cases(plan: Plan) -> list[Case]:
    return [
        Case(
            key=f"batch-{n}",
            title=f"One batch of {n:,} aggregates, concurrency {CONCURRENCY}, cold process",
            args=["--workload", "batch", "--count", str(n), "--concurrency", str(CONCURRENCY)],
            contenders=plan.keep(RAW, OURS, OURS_MANY),
            server=NO_LATENCY,
            max_runs=LARGE_RUNS if n >= LARGE else None,
        )
        for n in sizes(plan)
    ]


def _gc(run: Run) -> float:
    counts = run.data.get("extra", {}).get("gc_collections") or [0, 0, 0]
    return float(counts[2])


def _gc_all(run: Run) -> float:
    return float(sum(run.data.get("extra", {}).get("gc_collections") or [0]))


def rss_per_call(run: Run) -> float:
    """Peak RSS growth over the RSS just before the batch, per call, in KiB."""
    growth = float(run.data.get("peak_rss", 0)) - run.extra("rss_before_batch")
    return max(growth, 0.0) / 1024 / max(int(run.data.get("requests", 0)), 1)


def report(plan: Plan, measured: Cases) -> list[Section]:
    rows = []
    for n in sizes(plan):
        case = measured[f"batch-{n}"]
        floor_t, floor_rss = case.time(RAW), case.median(RAW, peak_mib)
        for c in case.contenders:
            t, rss = case.time(c), case.median(c, peak_mib)
            objects = case.median(c, lambda r: r.extra("objects_per_waiting_call"))
            rows.append(
                [
                    f"{n:,}",
                    label(c),
                    fmt_s(t),
                    fmt_x(ratio(t, floor_t)),
                    f"{n / t:,.0f}" if t else "n/a",
                    fmt_mib(rss),
                    fmt_x(ratio(rss, floor_rss)),
                    "n/a" if (kib := case.median(c, rss_per_call)) is None else f"{kib:.1f} KiB",
                    "n/a"
                    if (g := case.median(c, _gc_all)) is None
                    else f"{g:.0f} ({case.median(c, _gc) or 0:.0f})",
                    "n/a" if objects is None else f"{objects:.0f}",
                    case.error_note(c),
                ]
            )
    headers = ["N", "Contender", "Time", "vs raw", "Requests/s", "Peak RSS", "RSS vs raw"]
    headers += ["RSS growth per call", "GC collections (gen 2)", "Objects per call", "Notes"]
    body = table(headers, rows)
    body += (
        "\n\nEach run is a fresh process that opens its client and sends the N calls at once"
        f" (bounded to {CONCURRENCY} in flight: raw by a semaphore, ours by `max_concurrency`"
        " or `aggregate_many(concurrency=64)`), with no warm-up, no added latency. GC"
        " collections are counted during the batch (all generations, gen 2 in brackets);"
        " objects per call is the growth of `gc.get_objects()` over the batch's start divided"
        " by the tasks alive, sampled once while the calls wait (the sampling pause is not"
        " timed). Peak RSS is `ru_maxrss` (imports included); RSS growth per call is that peak"
        " minus the RSS just before the batch, divided by N."
        f" N = {LARGE:,} is run {LARGE_RUNS} times at most (median of those runs)."
    )
    return [Section(f"(9) Batch size: N aggregates at concurrency {CONCURRENCY}", body)]


SCENARIO = Scenario("batch", cases, report)
