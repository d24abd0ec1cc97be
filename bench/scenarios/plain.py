"""Without orjson (issue 15, target 6): a plain install against a stdlib ``json`` floor.

ddllmobs_async runs with ``DDLLMOBS_NO_ORJSON=1`` (what it does without the ``speedups``
extra); the floor is raw aiohttp + ``json.loads``. Client CPU rows (no added latency).
"""

from __future__ import annotations

from bench._harness import OURS, OURS_PLAIN, RAW, RAW_STDLIB, Case, label
from bench._scenario import (
    Cases,
    Plan,
    Scenario,
    Section,
    fmt_s,
    fmt_x,
    projected_time,
    ratio,
    table,
)
from bench.scenarios._common import (
    EXPERIMENTS,
    NO_LATENCY,
    PAGE,
    aggregate_args,
    pages,
    stream_args,
)

CONCURRENCY = 64


def _total(plan: Plan) -> int:
    return plan.pick(100_000, 10_000)


def cases(plan: Plan) -> list[Case]:
    total = _total(plan)
    contenders = plan.keep(RAW_STDLIB, OURS_PLAIN)
    count, repeat = plan.pick(1000, 100), plan.pick(5, 3)
    return [
        Case(
            key="plain-stream",
            title=f"Stream {total:,} experiments without orjson",
            args=stream_args(total),
            contenders=contenders,
            server=NO_LATENCY,
            pages=pages(EXPERIMENTS, total),
        ),
        Case(
            key="plain-aggregate",
            title=f"{count:,} aggregates at concurrency {CONCURRENCY} without orjson",
            args=aggregate_args(count, CONCURRENCY, repeat),
            contenders=contenders,
            server=NO_LATENCY,
        ),
    ]


def report(plan: Plan, measured: Cases) -> list[Section]:
    total, count = _total(plan), plan.pick(1000, 100)
    rows = []
    with_orjson = {
        "plain-stream": measured.get("stream"),
        "plain-aggregate": measured.get(f"aggregate-{CONCURRENCY}"),
    }
    what = {
        "plain-stream": f"stream {total:,}, pages of {PAGE}",
        "plain-aggregate": f"{count:,} aggregates, c={CONCURRENCY}",
    }
    for key in ("plain-stream", "plain-aggregate"):
        case = measured[key]
        floor = case.median(RAW_STDLIB, projected_time)
        fast = with_orjson[key]
        for c in case.contenders:
            t = case.median(c, projected_time)
            orjson_t = fast.time(OURS if c == OURS_PLAIN else RAW) if fast else None
            rows.append(
                [
                    what[key],
                    label(c),
                    fmt_s(t),
                    fmt_x(ratio(t, floor)),
                    fmt_x(ratio(t, orjson_t)),
                    case.error_note(c),
                ]
            )
    headers = ["Workload", "Contender", "Median time", "vs stdlib floor", "vs with orjson"]
    body = table([*headers, "Notes"], rows)
    body += (
        "\n\nA plain `pip install ddllmobs-async` (no `speedups` extra) decodes and encodes with"
        " the standard library's `json`; here forced with `DDLLMOBS_NO_ORJSON=1`. \"vs with"
        " orjson\" compares with the same contender's orjson row in tables (1) and (3) of this"
        " run: what the extra buys. The stdlib floor's aggregates are the orjson floor's loop"
        " with `json.dumps`/`json.loads`."
    )
    return [Section("(10) Without orjson (plain install), client CPU", body)]


SCENARIO = Scenario("plain", cases, report)
