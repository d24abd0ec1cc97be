"""Experiment events (issue 13): stream 50,000 realistic spans of one experiment.

Raw aiohttp + orjson, ddllmobs_async (``client.list_experiment_events``) and the official
client (``list_llm_obs_experiment_events``, unstable operation enabled, ``meta.after`` followed
by hand); peak RSS at 5,000 vs 50,000 spans; the loop stall by page size, as for experiments.
"""

from __future__ import annotations

from bench._harness import OFFICIAL, OURS, OURS_PREFETCH, RAW, Case, label
from bench._scenario import (
    Cases,
    Plan,
    Scenario,
    Section,
    at_least,
    at_most,
    fmt_mib,
    fmt_s,
    fmt_x,
    peak_mib,
    projected_time,
    ratio,
    table,
    time_table,
    truncation_note,
)
from bench.scenarios._common import (
    EVENTS,
    LATENCY_MS,
    NO_LATENCY,
    PAGE,
    WITH_LATENCY,
    pages,
    stream_args,
)
from bench.scenarios.stall import stall_cases, stall_section

# Measured once on one 5000-span page of this fake (best of 7, GC off; static text: re-measure
# when the span models or their converter change).
WHY_EVENTS = (
    "Why ours is above the 1.5x target: a page of 5000 spans carries some 13,900 eval metrics,"
    " and ddllmobs_async builds a frozen attrs instance for each span and each eval (sixteen"
    " fields each). On one page, decoding the JSON takes 53 ms (the floor's whole work);"
    " structuring it takes 87 ms more, of which the attrs constructors alone are 37 ms (10 ms"
    " for the spans, 27.5 ms for the evals: every field of a frozen instance is set through"
    " `object.__setattr__`) and reading and type-checking the members the rest. 1.5x would"
    " leave about half a decode (27 ms) to build 19,000 models, less than their constructors"
    " take; building them around attrs is ruled out (issue 15). The same stream with"
    f" {LATENCY_MS:g} ms of latency, with and without `prefetch=1`, is in table (11b)."
)


def _sizes(plan: Plan) -> tuple[int, int]:
    return (5000, plan.pick(50_000, 15_000))


def cases(plan: Plan) -> list[Case]:
    small, large = _sizes(plan)
    out = [
        Case(
            key="events",
            title=f"(11) Stream the events of one experiment: {large:,} spans, pages of {PAGE}",
            args=stream_args(large, workload="events"),
            contenders=plan.keep(RAW, OURS, OFFICIAL),
            server=NO_LATENCY,
            pages=pages(EVENTS, large),
            # one page of 5000 spans takes it 5-10 s: stop after the first
            per_contender={OFFICIAL: plan.budget(5)},
        ),
        Case(
            key=f"events-memory-{small}",
            title=f"Peak RSS streaming {small:,} spans",
            args=stream_args(small, workload="events"),
            contenders=plan.keep(RAW, OURS),
            server=NO_LATENCY,
            pages=pages(EVENTS, small),
        ),
        Case(
            key="events-latency",
            title=f"(11b) Stream {large:,} spans, {LATENCY_MS:g} ms latency",
            args=stream_args(large, workload="events"),
            contenders=plan.keep(RAW, OURS, OURS_PREFETCH),
            server=WITH_LATENCY,
            pages=pages(EVENTS, large),
        ),
    ]
    return out + stall_cases(plan, EVENTS, large, "events-stall", "spans")


def report(plan: Plan, measured: Cases) -> list[Section]:
    small, large = _sizes(plan)
    case, small_case = measured["events"], measured[f"events-memory-{small}"]
    times = {c: case.median(c, projected_time) for c in case.contenders}
    floor = times.get(RAW)
    rss_small = {c: small_case.median(c, peak_mib) for c in small_case.contenders}
    rows = []
    for c in case.contenders:
        rss = case.median(c, peak_mib)
        rows.append(
            [
                label(c),
                fmt_s(times[c]),
                f"{large / t:,.0f}" if (t := times[c]) else "n/a",
                fmt_x(ratio(times[c], floor)),
                fmt_mib(rss_small.get(c)),
                fmt_mib(rss),
                fmt_x(ratio(rss, rss_small.get(c))),
                truncation_note(case, c, large),
            ]
        )
    headers = ["Contender", "Median time", "Spans/s", "vs floor", f"Peak RSS, {small:,}"]
    headers += [f"Peak RSS, {large:,}", "RSS growth", "Notes"]
    body = table(headers, rows)
    official = ratio(times.get(OFFICIAL), times.get(OURS))
    body += (
        f"\n\nSpans as the fake generates them (`bench/_data.py`): inputs and outputs of a few"
        " hundred bytes to a few KB, ~30% child spans, 5% errors, four evals (score,"
        " categorical, boolean, json) per root span, summary metrics on every page."
        f" No added latency (client CPU). Official client / ddllmobs_async: **{fmt_x(official)}**."
        f"\n\n{WHY_EVENTS}"
    )
    ours_rss = ratio(case.median(OURS, peak_mib), rss_small.get(OURS))
    targets = [
        at_most(
            13, f"Events {large:,} spans: ours / raw floor", ratio(times.get(OURS), floor), 1.5
        ),
        at_least(13, f"Events {large:,} spans: official / ours", official, 20.0),
        at_most(13, f"Events peak RSS {large:,} / {small:,} (ours)", ours_rss, 1.2),
    ]
    stall_title = f"(12) Event-loop stall streaming {large:,} spans, by page size"
    return [
        Section(case.title, body, targets),
        _latency_section(measured["events-latency"], large),
        stall_section(stall_title, measured, "events-stall", 13, "spans", large),
    ]


def _latency_section(case: Case, large: int) -> Section:
    body = time_table(case)[0]
    body += (
        f"\n\n{large // PAGE} pages of {PAGE} spans, each answered after {LATENCY_MS:g} ms (a"
        " near Datadog region; a real page of this size also takes its transfer time). With"
        " `prefetch=1` the next page's request is on the wire while this one is decoded and"
        " built. Published, no target: the issue's target is the client-CPU row above."
    )
    return Section(case.title, body, [])


SCENARIO = Scenario("events", cases, report)
