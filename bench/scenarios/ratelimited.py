"""Rate-limited batch (issue 15, target 5): 60 aggregates against 10 requests per second.

Datadog sends ``x-ratelimit-reset`` in whole seconds (the recorded interactions in
``../shared/api/cassettes/`` show integers): that case is the measured comparison. The same
batch with fractional resets (``0.734``) is reported separately.
"""

from __future__ import annotations

import math

from bench._harness import OFFICIAL, OURS, RAW, Case, label
from bench._scenario import (
    Cases,
    Plan,
    Scenario,
    Section,
    Target,
    check,
    fmt_s,
    fmt_x,
    ratio,
    table,
)

RATE, PERIOD = 10, 1.0


def _count(plan: Plan) -> int:
    return plan.pick(60, 20)


def minimum(count: int) -> float:
    """Fixed window anchored at the first request: ceil(N/L) windows, the last one just begun."""
    return (math.ceil(count / RATE) - 1) * PERIOD


def cases(plan: Plan) -> list[Case]:
    count = _count(plan)
    args = ["--workload", "ratelimited", "--count", str(count), "--concurrency", "64"]
    out = []
    for key, integer, what in (
        ("ratelimited", True, "whole-second `x-ratelimit-reset`, as Datadog sends"),
        ("ratelimited-fractional", False, "fractional `x-ratelimit-reset`"),
    ):
        out.append(
            Case(
                key=key,
                title=f"{count} aggregates, server allows {RATE} per {PERIOD:g} s, {what}",
                args=args,
                contenders=plan.keep(RAW, OURS, OFFICIAL),
                server={"rate_limit": f"{RATE}/{PERIOD:g}", "integer_reset": integer},
                timeout=max(60.0, 10 * minimum(count)),
                # the window makes the time: the fractional case is stable, three runs tell it
                max_runs=None if integer else 3,
            )
        )
    return out


def _section(case: Case, count: int) -> tuple[str, float | None, float | None]:
    low = minimum(count)
    rows = []
    for c in case.contenders:
        t = case.time(c)
        requests = case.median(c, lambda r: float(r.data.get("server_requests", 0)))
        throttled = case.median(c, lambda r: float(r.data.get("server_429", 0)))
        rows.append(
            [
                label(c),
                fmt_s(t),
                fmt_x(ratio(t, low)),
                "n/a" if requests is None else f"{requests:.0f}",
                "n/a" if throttled is None else f"{throttled:.0f}",
                case.error_note(c),
            ]
        )
    headers = ["Contender", "Median time", "vs theoretical minimum", "Requests", "429s", "Notes"]
    ours_429 = case.median(OURS, lambda r: float(r.data.get("server_429", 0)))
    return table(headers, rows), ratio(case.time(OURS), low), ours_429


def report(plan: Plan, measured: Cases) -> list[Section]:
    count = _count(plan)
    low = minimum(count)
    sections = []
    case = measured["ratelimited"]
    body, ours, ours_429 = _section(case, count)
    body += (
        f"\n\nTheoretical minimum: {count} requests at {RATE} per {PERIOD:g} s with a fixed"
        f" window anchored at the first request = (ceil({count}/{RATE}) - 1) x {PERIOD:g} s ="
        f" **{low:g} s**. Requests and 429s are counted by the server. The 429s carry an empty"
        " body and `x-ratelimit-reset` in whole seconds, rounded up (never 0), like Datadog's"
        " recorded answers. datadog-api-client sleeps `int(x-ratelimit-reset)` and retries"
        " (`enable_retry=True`, `max_retries=10`)."
    )
    passed = check(ours, lambda v: v <= 1.15)
    if passed is not None and ours_429 is not None:
        passed = passed and ours_429 == 0
    measured_text = f"{fmt_x(ours)}, {'n/a' if ours_429 is None else f'{ours_429:.0f}'} 429s"
    target = Target(
        15,
        "Rate-limited batch (integer reset): ours / minimum, 429s",
        measured_text,
        "<= 1.15x, 0 429s",
        passed,
    )
    sections.append(Section(f"(5) {case.title}", body, [target]))

    if "ratelimited-fractional" in measured:
        case = measured["ratelimited-fractional"]
        body, _, _ = _section(case, count)
        body += (
            "\n\nThe same batch with `x-ratelimit-reset` sent with decimals (e.g. `0.734`), which"
            " Datadog does not send (three runs at most)."
        )
        if any("invalid literal for int()" in e for e in case.errors(OFFICIAL)):
            body += (
                " datadog-api-client's retry (`rest.py`, `_retry`) sleeps"
                " `int(x-ratelimit-reset)`, which raises `ValueError` on a decimal value: its"
                " batch fails at the first 429 here, and only here."
            )
        sections.append(Section(f"(5b) {case.title}", body))
    return sections


SCENARIO = Scenario("ratelimited", cases, report)
