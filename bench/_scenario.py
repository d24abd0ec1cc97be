"""What a scenario is, and the small formatting kit its report uses.

A :class:`Scenario` has a ``key`` (for ``--only``), ``cases(plan)`` (the runs it needs) and
``report(plan, cases)`` (its section of ``docs/performance.md`` with PASS/MISS targets).
``cases`` maps every measured case key to its :class:`~bench._harness.Case`, across scenarios,
so a report may compare with another scenario's rows when both ran.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench._harness import CONTENDERS, MODULES, RAW, Case, Run, label

Cases = Mapping[str, Case]


@dataclass(frozen=True)
class Plan:
    """What this invocation runs: sizes (``--quick``), runs, selected contender modules."""

    quick: bool
    runs: int
    modules: tuple[str, ...] = MODULES
    workdir: Path = Path(".")
    official_budget: float = 0.0

    def pick(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def keep(self, *keys: str) -> tuple[str, ...]:
        """The given contenders whose module was selected (``--contenders``)."""
        return tuple(k for k in keys if CONTENDERS[k].module in self.modules)

    def budget(self, full: float) -> list[str]:
        """``--budget`` for the official client (it cannot finish the big workloads)."""
        seconds = self.official_budget or (full / 2 if self.quick else full)
        return ["--budget", f"{seconds:g}"]


@dataclass
class Target:
    issue: int
    name: str
    measured: str
    goal: str
    passed: bool | None

    def row(self) -> list[str]:
        verdict = "n/a" if self.passed is None else ("PASS" if self.passed else "MISS")
        return [f"#{self.issue}", self.name, self.measured, self.goal, verdict]


@dataclass
class Section:
    title: str
    body: str
    targets: list[Target] = field(default_factory=list)

    def markdown(self) -> str:
        return f"### {self.title}\n\n{self.body}\n"


@dataclass(frozen=True)
class Scenario:
    key: str
    cases: Callable[[Plan], list[Case]]
    report: Callable[[Plan, Cases], list[Section]]


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------
def fmt_s(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.001:
        return f"{value * 1000:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} ms"


def fmt_x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def fmt_mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def check(value: float | None, ok: Callable[[float], bool]) -> bool | None:
    return None if value is None else ok(value)


def at_most(issue: int, name: str, value: float | None, limit: float) -> Target:
    return Target(issue, name, fmt_x(value), f"<= {limit:g}x", check(value, lambda v: v <= limit))


def at_least(issue: int, name: str, value: float | None, limit: float) -> Target:
    return Target(issue, name, fmt_x(value), f">= {limit:g}x", check(value, lambda v: v >= limit))


def peak_mib(run: Run) -> float:
    return float(run.data.get("peak_rss", 0)) / 2**20


def projected_time(run: Run) -> float:
    """Elapsed time, extrapolated per item when the run stopped early at its budget."""
    items = int(run.data.get("items", 0))
    target = int(run.data.get("extra", {}).get("target_items", 0) or 0)
    if run.data.get("truncated") and items and target:
        return run.elapsed * target / items
    return run.elapsed


def truncation_note(case: Case, contender: str, total: int) -> str:
    runs = case.ok_runs(contender)
    if not any(r.data.get("truncated") for r in runs):
        return case.error_note(contender)
    measured = min(int(r.data.get("items", 0)) for r in runs)
    return (
        f"stopped at its time budget after {measured:,} items; time extrapolated per item"
        f" to {total:,}"
    )


def time_table(case: Case) -> tuple[str, dict[str, float | None]]:
    """Each contender's median time against raw aiohttp's, as a table, and those times."""
    times = {c: case.median(c, projected_time) for c in case.contenders}
    floor = times.get(RAW)
    rows = [
        [label(c), fmt_s(times[c]), fmt_x(ratio(times[c], floor)), case.error_note(c)]
        for c in case.contenders
    ]
    return table(["Contender", "Median time", "vs floor", "Notes"], rows), times
