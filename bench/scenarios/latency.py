"""Realistic latency (issue 15, target 2): the fake answers every request after 20 ms.

Aggregates at concurrency 1, 16 and 64 (fewer requests and timed batches than the client-CPU
rows: at concurrency 1 every request costs the full 20 ms), and the 100k stream with and
without ``prefetch=1``.
"""

from __future__ import annotations

from bench._harness import OURS, OURS_PREFETCH, RAW, Case, label
from bench._scenario import (
    Cases,
    Plan,
    Scenario,
    Section,
    at_most,
    fmt_s,
    fmt_x,
    ratio,
    table,
    time_table,
)
from bench.scenarios._common import (
    EXPERIMENTS,
    LATENCY_MS,
    PAGE,
    WITH_LATENCY,
    aggregate_args,
    pages,
    stream_args,
)

# concurrency -> (requests per batch, timed batches per run), full and quick
BATCHES = {1: ((200, 1), (40, 1)), 16: ((1000, 1), (160, 1)), 64: ((2000, 2), (320, 1))}


def _batch(plan: Plan, conc: int) -> tuple[int, int]:
    full, quick = BATCHES[conc]
    return quick if plan.quick else full


def _total(plan: Plan) -> int:
    return plan.pick(100_000, 20_000)


def cases(plan: Plan) -> list[Case]:
    out = []
    for conc in BATCHES:
        count, repeat = _batch(plan, conc)
        out.append(
            Case(
                key=f"latency-aggregate-{conc}",
                title=f"{count:,} aggregates at concurrency {conc}, {LATENCY_MS:g} ms latency",
                args=aggregate_args(count, conc, repeat),
                contenders=plan.keep(RAW, OURS),
                server=WITH_LATENCY,
            )
        )
    total = _total(plan)
    out.append(
        Case(
            key="latency-stream",
            title=f"Stream {total:,} experiments, {LATENCY_MS:g} ms latency",
            args=stream_args(total),
            contenders=plan.keep(RAW, OURS, OURS_PREFETCH),
            server=WITH_LATENCY,
            pages=pages(EXPERIMENTS, total),
        )
    )
    return out


def report(plan: Plan, measured: Cases) -> list[Section]:
    rows, targets = [], []
    for conc in BATCHES:
        case = measured[f"latency-aggregate-{conc}"]
        count, repeat = _batch(plan, conc)
        floor = case.time(RAW)
        for c in case.contenders:
            t = case.time(c)
            rows.append(
                [
                    str(conc),
                    label(c),
                    f"{count:,} x {repeat}",
                    fmt_s(t),
                    fmt_s(t / count if t else None),
                    fmt_x(ratio(t, floor)),
                    case.error_note(c),
                ]
            )
        rel = ratio(case.time(OURS), floor)
        targets.append(
            at_most(15, f"Aggregates c={conc}, {LATENCY_MS:g} ms: ours / raw time", rel, 1.05)
        )
    headers = ["Concurrency", "Contender", "Batch x timed", "Median batch", "Per request"]
    body = table([*headers, "vs floor", "Notes"], rows)
    body += (
        f"\n\nEach run sends one warm-up wave, then times the batch (median of the timed batches);"
        f" the server waits {LATENCY_MS:g} ms before answering each request."
    )
    sections = [Section(f"(7) Aggregates at {LATENCY_MS:g} ms latency", body, targets)]

    case = measured["latency-stream"]
    total = _total(plan)
    body, times = time_table(case)
    body += (
        f"\n\n{total // PAGE} pages of {PAGE}, each answered after {LATENCY_MS:g} ms. On demand,"
        " a page is requested when the consumer asks for its first item; with `prefetch=1` the"
        " next page's request can be on the wire while this page is decoded and structured."
    )
    targets = [
        at_most(
            15,
            f"Stream {total:,}, {LATENCY_MS:g} ms, prefetch=1: ours / raw",
            ratio(times.get(OURS_PREFETCH), times.get(RAW)),
            1.2,
        ),
    ]
    sections.append(Section(f"(8) {case.title}", body, targets))
    return sections


SCENARIO = Scenario("latency", cases, report)
