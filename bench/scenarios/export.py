"""Parquet export (issue 14): ``export_experiments`` against streaming the same experiments.

In one run, against the same fake: export 100,000 experiments to Parquet with the public
``ddllmobs_async.export.export_experiments`` (a fresh temporary directory per run) and stream
them alone with ``client.list_experiments``, both with a heartbeat task for the longest loop
stall; then peak RSS exporting 10,000 vs 100,000, each in a fresh process.
"""

from __future__ import annotations

import functools
import math

from bench._harness import OURS, Case
from bench._scenario import (
    Cases,
    Plan,
    Scenario,
    Section,
    at_most,
    fmt_mib,
    fmt_ms,
    fmt_s,
    fmt_x,
    peak_mib,
    ratio,
    table,
)
from bench.scenarios._common import EXPERIMENTS, NO_LATENCY, PAGE, pages, stream_args
from bench.scenarios.stall import HEARTBEAT_MS, count, over_limit, stall_max, typical_page_stall

STREAM_KEY = "export-stream"


def _sizes(plan: Plan) -> tuple[int, int]:
    return (plan.pick(10_000, 5_000), plan.pick(100_000, 20_000))


def _export_key(total: int) -> str:
    return f"export-{total}"


def _case(key: str, title: str, total: int, workload: str) -> Case:
    return Case(
        key=key,
        title=title,
        args=[*stream_args(total, PAGE, workload), "--heartbeat", f"{HEARTBEAT_MS:g}"],
        contenders=(OURS,),
        server=NO_LATENCY,
        pages=pages(EXPERIMENTS, total),
    )


def cases(plan: Plan) -> list[Case]:
    if OURS not in plan.modules:
        return []
    small, large = _sizes(plan)
    return [
        _case(STREAM_KEY, f"Export: stream {large:,} experiments alone", large, "stream"),
        _case(_export_key(large), f"Export {large:,} experiments to Parquet", large, "export"),
        _case(_export_key(small), f"Export {small:,} experiments to Parquet", small, "export"),
    ]


def _row(what: str, case: Case, stream_time: float | None, measured_pages: int) -> list[str]:
    typical = functools.partial(typical_page_stall, n_pages=measured_pages)
    elapsed = case.time(OURS)
    return [
        what,
        fmt_s(elapsed),
        fmt_x(ratio(elapsed, stream_time)),
        fmt_mib(case.median(OURS, peak_mib)),
        fmt_ms(case.median(OURS, stall_max)),
        fmt_ms(case.median(OURS, typical)),
        count(case.median(OURS, over_limit)),
        case.error_note(OURS),
    ]


def report(plan: Plan, measured: Cases) -> list[Section]:
    small_n, large_n = _sizes(plan)
    keys = (STREAM_KEY, _export_key(large_n), _export_key(small_n))
    if not all(k in measured for k in keys):
        return []
    stream, large, small = (measured[k] for k in keys)
    stream_time = stream.time(OURS)

    def n_pages(total: int) -> int:
        return math.ceil(total / PAGE)

    rows = [
        # the stream's warm-up page is part of its total, not of the measured stream
        _row(f"`list_experiments`, {large_n:,}", stream, stream_time, n_pages(large_n) - 1),
        _row(f"`export_experiments`, {large_n:,}", large, stream_time, n_pages(large_n)),
        _row(f"`export_experiments`, {small_n:,}", small, None, n_pages(small_n)),
    ]
    headers = ["ddllmobs_async", "Median time", "vs plain stream", "Peak RSS", "Longest stall"]
    headers += ["Typical stall per page", "Stalls > 10 ms", "Notes"]
    body = table(headers, rows)
    body += (
        f"\n\nThe export writes a Parquet dataset (pages of {PAGE}, one row group per page) into"
        " a fresh temporary directory, removed after the run, with its default `prefetch=1`"
        " (the next page is fetched while one is written); the plain stream is"
        " `client.list_experiments` alone, as in table (1), in the same run against the same"
        " fake. pyarrow is imported before the clock starts. Stalls as in table (6): a"
        f" heartbeat task sleeps {HEARTBEAT_MS:g} ms in a loop; one page is streamed (and, for"
        " the export, converted to Arrow) first, unmeasured. Peak RSS is `ru_maxrss` of a fresh"
        " process per run, imports (pyarrow included) counted. Medians of the runs; no added"
        " latency (client CPU)."
    )
    targets = [
        at_most(
            14,
            f"Export {large_n:,} to Parquet: time / plain stream",
            ratio(large.time(OURS), stream_time),
            1.5,
        ),
        at_most(
            14,
            f"Peak RSS exporting {large_n:,} / {small_n:,}",
            ratio(large.median(OURS, peak_mib), small.median(OURS, peak_mib)),
            1.2,
        ),
    ]
    title = f"(13) Export {large_n:,} experiments to Parquet vs streaming them"
    return [Section(title, body, targets)]


SCENARIO = Scenario("export", cases, report)
