"""Benchmark runner: ``nox -s bench`` (or ``python bench/run.py``); never run by the tests.

Starts the fake Datadog (``bench/server.py``) in its own process, runs every contender
(``bench/contenders/*.py``) in a fresh process per run, interleaved ``A B C A B C ...``, takes
medians over ``--runs`` runs and writes ``docs/performance.md``.

Workloads (``--only`` picks some, comma-separated):

* ``stream``: stream 100k experiments in pages of 5000.
* ``structure``: structure one 5000-item page from bytes, no network.
* ``aggregate``: 1,000 aggregates at concurrency 1, 16 and 64.
* ``memory``: peak RSS while streaming 10k vs 100k experiments.
* ``ratelimited``: a batch of aggregates against a server allowing L per P seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import IO, Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORKLOADS = ("stream", "structure", "aggregate", "memory", "ratelimited")
CONTENDERS = ("raw_aiohttp", "ddllmobs", "official")
RAW, OURS, OFFICIAL = CONTENDERS
# A variant runs a contender's module with extra arguments, as a row of its own.
OURS_PREFETCH = "ddllmobs_prefetch"
VARIANTS = {OURS_PREFETCH: (OURS, ["--prefetch", "1"])}
LABELS = {
    RAW: "raw aiohttp + orjson (floor)",
    OURS: "ddllmobs_async",
    OURS_PREFETCH: "ddllmobs_async, `prefetch=1`",
    OFFICIAL: "datadog-api-client async",
}
LIST_PATH = "/api/v2/llm-obs/v1/experiments"
PAGE_SIZE = 5000
PAGE_WORK_MS = 50.0  # (1b): what a consumer spends per page, e.g. a bulk insert
# No proxies: every request of the runner goes to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Sizes:
    stream_total: int
    memory_small: int
    memory_large: int
    aggregates: int
    concurrencies: tuple[int, ...]
    structure_repeat: int
    aggregate_repeat: int
    ratelimited_count: int
    rate_limit: int
    rate_period: float
    official_budget: float


FULL = Sizes(
    stream_total=100_000,
    memory_small=10_000,
    memory_large=100_000,
    aggregates=1000,
    concurrencies=(1, 16, 64),
    structure_repeat=7,
    aggregate_repeat=5,
    ratelimited_count=60,
    rate_limit=10,
    rate_period=1.0,
    official_budget=20.0,
)
QUICK = Sizes(
    stream_total=10_000,
    memory_small=10_000,
    memory_large=30_000,
    aggregates=100,
    concurrencies=(1, 16, 64),
    structure_repeat=3,
    aggregate_repeat=3,
    ratelimited_count=20,
    rate_limit=10,
    rate_period=1.0,
    official_budget=10.0,
)


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------
def _pin(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


class Server:
    """``bench/server.py`` in a subprocess; ``url`` once it printed its port."""

    def __init__(self, name: str, args: Sequence[str], cpu: int | None, logdir: Path) -> None:
        self.name = name
        self.log_path = logdir / f"server-{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        cmd = [sys.executable, str(BENCH / "server.py"), *args]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            preexec_fn=_pin(cpu),
        )
        self.url = ""

    def wait_ready(self, timeout: float = 180.0) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode().strip()
            if line.startswith("PORT "):
                self.url = f"http://127.0.0.1:{int(line.split()[1])}"
                return self.url
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"server {self.name} did not start:\n{self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return ""

    def reset(self) -> None:
        request = urllib.request.Request(self.url + "/_bench/reset", data=b"{}", method="POST")
        with _OPENER.open(request, timeout=10) as resp:
            resp.read()

    def stats(self) -> dict[str, Any]:
        with _OPENER.open(self.url + "/_bench/stats", timeout=10) as resp:
            data: dict[str, Any] = orjson.loads(resp.read())
            return data

    def fetch(self, path: str) -> bytes:
        request = urllib.request.Request(
            self.url + path, headers={"DD-API-KEY": "k", "DD-APPLICATION-KEY": "k"}
        )
        with _OPENER.open(request, timeout=60) as resp:
            body: bytes = resp.read()
            return body

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()
        if not self._log.closed:
            self._log.close()


@dataclass
class Run:
    """One contender process: the parsed ``RESULT`` line plus the server's counters."""

    contender: str
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def elapsed(self) -> float:
        return float(self.data.get("elapsed", 0.0))


def run_contender(
    contender: str, args: Sequence[str], timeout: float, cpu: int | None, server: Server | None
) -> Run:
    module, extra = VARIANTS.get(contender, (contender, []))
    cmd = [sys.executable, "-m", f"bench.contenders.{module}", *args, *extra]
    if server is not None:
        server.reset()
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            preexec_fn=_pin(cpu),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Run(contender, ok=False, error=f"timeout after {timeout:.0f}s")
    lines = [ln for ln in proc.stdout.decode().splitlines() if ln.startswith("RESULT ")]
    if not lines:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        return Run(contender, ok=False, error=f"exit {proc.returncode}: {' | '.join(tail)}")
    data: dict[str, Any] = orjson.loads(lines[-1][len("RESULT ") :])
    if server is not None:
        stats = server.stats()
        data["server_requests"] = stats["requests"]
        data["server_429"] = stats["throttled"]
    error = data.get("error")
    if error:
        return Run(contender, ok=False, data=data, error=str(error))
    return Run(contender, ok=True, data=data)


# --------------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------------
@dataclass
class Case:
    """One workload variant, run for every contender ``--runs`` times, interleaved."""

    key: str
    workload: str
    title: str
    args: list[str]
    contenders: tuple[str, ...]
    server: str | None
    timeout: float = 600.0
    per_contender: dict[str, list[str]] = field(default_factory=dict)
    runs: dict[str, list[Run]] = field(default_factory=dict)

    def ok_runs(self, contender: str) -> list[Run]:
        return [r for r in self.runs.get(contender, []) if r.ok]

    def median(self, contender: str, metric: Callable[[Run], float]) -> float | None:
        values = [metric(r) for r in self.ok_runs(contender)]
        return statistics.median(values) if values else None

    def errors(self, contender: str) -> list[str]:
        return [r.error for r in self.runs.get(contender, []) if not r.ok]


def build_cases(
    sizes: Sizes, only: set[str], contenders: tuple[str, ...], page_file: Path
) -> list[Case]:
    cases: list[Case] = []
    budget = ["--budget", f"{sizes.official_budget:g}"]
    if "stream" in only:
        cases.append(
            Case(
                key="stream",
                workload="stream",
                title=f"(1) Stream {sizes.stream_total:,} experiments, pages of {PAGE_SIZE}",
                args=["--workload", "stream", "--total", str(sizes.stream_total)],
                contenders=contenders,
                server="main",
                per_contender={OFFICIAL: budget},
            )
        )
    if "stream" in only and OURS in contenders:
        cases.append(
            Case(
                key="stream-work",
                workload="stream",
                title=(
                    f"(1b) Stream {sizes.stream_total:,} experiments with {PAGE_WORK_MS:g} ms"
                    " of async work per page"
                ),
                args=[
                    "--workload",
                    "stream",
                    "--total",
                    str(sizes.stream_total),
                    "--page-work",
                    f"{PAGE_WORK_MS:g}",
                ],
                contenders=(OURS, OURS_PREFETCH),
                server="main",
            )
        )
    if "structure" in only:
        cases.append(
            Case(
                key="structure",
                workload="structure",
                title=f"(2) Structure one {PAGE_SIZE}-item page from bytes (no network)",
                args=[
                    "--workload",
                    "structure",
                    "--page-file",
                    str(page_file),
                    "--repeat",
                    str(sizes.structure_repeat),
                ],
                contenders=contenders,
                server=None,
                per_contender={OFFICIAL: ["--repeat", "3", *budget]},
            )
        )
    if "aggregate" in only:
        for conc in sizes.concurrencies:
            cases.append(
                Case(
                    key=f"aggregate-{conc}",
                    workload="aggregate",
                    title=f"(3) {sizes.aggregates:,} aggregates at concurrency {conc}",
                    args=[
                        "--workload",
                        "aggregate",
                        "--count",
                        str(sizes.aggregates),
                        "--concurrency",
                        str(conc),
                        "--repeat",
                        str(sizes.aggregate_repeat),
                    ],
                    contenders=contenders,
                    server="main",
                    # its batches take seconds, not tenths: three are enough for a median
                    per_contender={OFFICIAL: ["--repeat", "3"]},
                )
            )
    if "memory" in only:
        for total in (sizes.memory_small, sizes.memory_large):
            cases.append(
                Case(
                    key=f"memory-{total}",
                    workload="memory",
                    title=f"(4) Peak RSS streaming {total:,} experiments",
                    args=["--workload", "stream", "--total", str(total)],
                    contenders=tuple(c for c in contenders if c != OFFICIAL),
                    server="main",
                )
            )
    if "ratelimited" in only:
        minimum = theoretical_minimum(sizes)
        cases.append(
            Case(
                key="ratelimited",
                workload="ratelimited",
                title=(
                    f"(5) {sizes.ratelimited_count} aggregates, server allows "
                    f"{sizes.rate_limit} per {sizes.rate_period:g} s"
                ),
                args=[
                    "--workload",
                    "ratelimited",
                    "--count",
                    str(sizes.ratelimited_count),
                    "--concurrency",
                    "64",
                ],
                contenders=contenders,
                server="limited",
                timeout=max(60.0, 10 * minimum),
            )
        )
    return cases


def theoretical_minimum(sizes: Sizes) -> float:
    """Fixed window anchored at the first request: ceil(N/L) windows, the last one just begun."""
    windows = math.ceil(sizes.ratelimited_count / sizes.rate_limit)
    return (windows - 1) * sizes.rate_period


def run_cases(cases: list[Case], servers: dict[str, Server], n_runs: int, cpu: int | None) -> None:
    for case in cases:
        server = servers[case.server] if case.server else None
        url = ["--url", server.url] if server else []
        print(f"== {case.title}", flush=True)
        for i in range(n_runs):
            for contender in case.contenders:  # interleaved: A B C A B C ...
                args = [*case.args, *url, *case.per_contender.get(contender, [])]
                run = run_contender(contender, args, case.timeout, cpu, server)
                case.runs.setdefault(contender, []).append(run)
                shown = f"{run.elapsed:.4f}s" if run.ok else f"FAILED {run.error}"
                print(f"   run {i + 1}/{n_runs} {contender:<12} {shown}", flush=True)


# --------------------------------------------------------------------------------------------
# metrics and report
# --------------------------------------------------------------------------------------------
def projected_time(run: Run) -> float:
    """Elapsed time, extrapolated per item when the run stopped early at its budget."""
    items = int(run.data.get("items", 0))
    target = int(run.data.get("extra", {}).get("target_items", 0) or 0)
    if run.data.get("truncated") and items and target:
        return run.elapsed * target / items
    return run.elapsed


def peak_mib(run: Run) -> float:
    return float(run.data.get("peak_rss", 0)) / 2**20


def fmt_s(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.001:
        return f"{value * 1000:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def fmt_x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


@dataclass
class Target:
    name: str
    measured: float | None
    goal: str
    passed: bool | None

    def row(self) -> list[str]:
        verdict = "n/a" if self.passed is None else ("PASS" if self.passed else "MISS")
        return [self.name, fmt_x(self.measured), self.goal, verdict]


def check(value: float | None, ok: Callable[[float], bool]) -> bool | None:
    return None if value is None else ok(value)


def error_note(case: Case, contender: str) -> str:
    errors = case.errors(contender)
    if not errors:
        return ""
    return f"{len(errors)} failed run(s): {errors[0][:160]}"


class Report:
    def __init__(self, sizes: Sizes, cases: list[Case], n_runs: int) -> None:
        self.sizes = sizes
        self.cases = {case.key: case for case in cases}
        self.n_runs = n_runs
        self.targets: list[Target] = []
        self.sections: list[str] = []

    def build(self) -> None:
        if "stream" in self.cases:
            self._stream(self.cases["stream"])
        if "stream-work" in self.cases:
            self._stream_work(self.cases["stream-work"])
        if "structure" in self.cases:
            self._structure(self.cases["structure"])
        aggregates = [c for k, c in self.cases.items() if k.startswith("aggregate-")]
        if aggregates:
            self._aggregates(aggregates)
        memory = [c for k, c in self.cases.items() if k.startswith("memory-")]
        if memory:
            self._memory(memory)
        if "ratelimited" in self.cases:
            self._ratelimited(self.cases["ratelimited"])

    def _stream(self, case: Case) -> None:
        total = self.sizes.stream_total
        times = {c: case.median(c, projected_time) for c in case.contenders}
        floor = times.get(RAW)
        rows = []
        for c in case.contenders:
            runs = case.ok_runs(c)
            measured = min((int(r.data.get("items", 0)) for r in runs), default=0)
            truncated = any(r.data.get("truncated") for r in runs)
            note = (
                f"stopped at its {self.sizes.official_budget:g} s budget after "
                f"{measured:,} items; time extrapolated per item to {total:,}"
                if truncated
                else ""
            )
            note = note or error_note(case, c)
            t = times[c]
            rows.append(
                [
                    LABELS[c],
                    f"{measured:,}",
                    fmt_s(t),
                    f"{total / t:,.0f}" if t else "n/a",
                    fmt_x(ratio(t, floor)),
                    f"{case.median(c, peak_mib) or 0:.0f} MiB",
                    note,
                ]
            )
        headers = ["Contender", "Items measured", "Median time", "Items/s"]
        headers += ["vs floor", "Peak RSS", "Notes"]
        body = table(headers, rows)
        ours_vs_floor = ratio(times.get(OURS), floor)
        official_vs_ours = ratio(times.get(OFFICIAL), times.get(OURS))
        body += f"\n\nOfficial client / ddllmobs_async: **{fmt_x(official_vs_ours)}** slower."
        self.sections.append(f"### {case.title}\n\n{body}")
        self.targets.append(
            Target(
                f"Streaming {total:,}: ddllmobs_async / raw floor",
                ours_vs_floor,
                "<= 2.0x",
                check(ours_vs_floor, lambda v: v <= 2.0),
            )
        )
        self.targets.append(
            Target(
                f"Streaming {total:,}: official / ddllmobs_async",
                official_vs_ours,
                ">= 20x",
                check(official_vs_ours, lambda v: v >= 20.0),
            )
        )

    def _stream_work(self, case: Case) -> None:
        pages = self.sizes.stream_total // PAGE_SIZE
        work = pages * PAGE_WORK_MS / 1000
        times = {c: case.median(c, lambda r: r.elapsed) for c in case.contenders}
        rows = [
            [
                LABELS[c],
                fmt_s(times[c]),
                fmt_x(ratio(times[c], times.get(OURS))),
                error_note(case, c),
            ]
            for c in case.contenders
        ]
        body = table(["Contender", "Median time", "vs on demand", "Notes"], rows)
        body += (
            f"\n\nThe consumer awaits {PAGE_WORK_MS:g} ms after each of the {pages} pages"
            f" ({fmt_s(work)} in all), as a bulk insert would. On demand, each page is requested"
            " only after that work; with `prefetch=1` the next page is fetched and decoded while"
            " the consumer waits."
        )
        self.sections.append(f"### {case.title}\n\n{body}")

    def _structure(self, case: Case) -> None:
        times = {c: case.median(c, lambda r: r.elapsed) for c in case.contenders}
        floor = times.get(RAW)
        what = {
            RAW: "`orjson.loads` only",
            OURS: "`_converters.structure_experiment_page(bytes)`",
            OFFICIAL: "`ApiClient.deserialize(text, (LLMObsExperimentsResponse,), True)`",
        }
        rows = [
            [
                LABELS[c],
                what[c],
                fmt_s(times[c]),
                fmt_x(ratio(times[c], floor)),
                error_note(case, c),
            ]
            for c in case.contenders
        ]
        body = table(["Contender", "What is timed", "Median per page", "vs floor", "Notes"], rows)
        official_vs_ours = ratio(times.get(OFFICIAL), times.get(OURS))
        body += f"\n\nOfficial deserialization / ddllmobs_async: **{fmt_x(official_vs_ours)}**."
        self.sections.append(f"### {case.title}\n\n{body}")
        self.targets.append(
            Target(
                "Structuring a page: official / ddllmobs_async",
                official_vs_ours,
                ">= 20x",
                check(official_vs_ours, lambda v: v >= 20.0),
            )
        )

    def _aggregates(self, cases: list[Case]) -> None:
        rows = []
        headline: float | None = None
        for case in cases:
            conc = case.key.split("-", 1)[1]
            tput = {
                c: case.median(c, lambda r: self.sizes.aggregates / r.elapsed if r.elapsed else 0)
                for c in case.contenders
            }
            for c in case.contenders:
                rel = ratio(tput[c], tput.get(RAW))
                note = error_note(case, c)
                rows.append(
                    [
                        conc,
                        LABELS[c],
                        fmt_s(case.median(c, lambda r: r.elapsed)),
                        f"{tput[c]:,.0f}" if tput[c] else "n/a",
                        fmt_x(rel),
                        note,
                    ]
                )
                if c == OURS and conc == str(max(self.sizes.concurrencies)):
                    headline = rel
        headers = ["Concurrency", "Contender", "Median time", "Requests/s"]
        headers += ["Throughput vs floor", "Notes"]
        title = f"(3) {self.sizes.aggregates:,} aggregates"
        self.sections.append(f"### {title}\n\n{table(headers, rows)}")
        self.targets.append(
            Target(
                f"Aggregates at concurrency {max(self.sizes.concurrencies)}: "
                "ddllmobs_async / raw throughput",
                headline,
                ">= 0.9x",
                check(headline, lambda v: v >= 0.9),
            )
        )

    def _memory(self, cases: list[Case]) -> None:
        small, large = cases[0], cases[-1]
        contenders = small.contenders
        rows = []
        growth: dict[str, float | None] = {}
        for c in contenders:
            a, b = small.median(c, peak_mib), large.median(c, peak_mib)
            growth[c] = ratio(b, a)
            note = error_note(small, c) or error_note(large, c)
            rows.append(
                [
                    LABELS[c],
                    "n/a" if a is None else f"{a:.0f} MiB",
                    "n/a" if b is None else f"{b:.0f} MiB",
                    fmt_x(growth[c]),
                    note,
                ]
            )
        s, l_ = self.sizes.memory_small, self.sizes.memory_large
        headers = ["Contender", f"Peak RSS, {s:,}", f"Peak RSS, {l_:,}", "Growth", "Notes"]
        body = table(headers, rows)
        body += (
            "\n\nPeak RSS is `ru_maxrss` of the contender process (imports included). The official"
            " client is left out: it cannot stream the large size within its time budget; its"
            " peak RSS while streaming is in table (1)."
        )
        self.sections.append(f"### (4) Peak RSS streaming {s:,} vs {l_:,}\n\n{body}")
        self.targets.append(
            Target(
                f"Memory: peak RSS {l_:,} / {s:,} (ddllmobs_async)",
                growth.get(OURS),
                "<= 1.2x",
                check(growth.get(OURS), lambda v: v <= 1.2),
            )
        )

    def _ratelimited(self, case: Case) -> None:
        minimum = theoretical_minimum(self.sizes)
        rows = []
        ours: float | None = None
        for c in case.contenders:
            t = case.median(c, lambda r: r.elapsed)
            rel = ratio(t, minimum)
            if c == OURS:
                ours = rel
            throttled = case.median(c, lambda r: float(r.data.get("server_429", 0)))
            requests = case.median(c, lambda r: float(r.data.get("server_requests", 0)))
            rows.append(
                [
                    LABELS[c],
                    fmt_s(t),
                    fmt_x(rel),
                    "n/a" if requests is None else f"{requests:.0f}",
                    "n/a" if throttled is None else f"{throttled:.0f}",
                    error_note(case, c),
                ]
            )
        headers = ["Contender", "Median time", "vs theoretical minimum", "Requests", "429s"]
        headers.append("Notes")
        n, lim, per = self.sizes.ratelimited_count, self.sizes.rate_limit, self.sizes.rate_period
        body = table(headers, rows)
        body += (
            f"\n\nTheoretical minimum: {n} requests at {lim} per {per:g} s with a fixed window"
            f" anchored at the first request = (ceil({n}/{lim}) - 1) x {per:g} s ="
            f" **{minimum:g} s**. Requests and 429s are counted by the server. The 429s carry an"
            " empty body and `x-ratelimit-reset` with decimals (e.g. `0.734`)."
        )
        if any("invalid literal for int()" in e for e in case.errors(OFFICIAL)):
            body += (
                " datadog-api-client's retry (`rest.py`, `_retry`) sleeps `int(x-ratelimit-reset)`,"
                " which raises `ValueError` on a decimal reset: its batch fails at the first 429."
            )
        self.sections.append(f"### {case.title}\n\n{body}")
        self.targets.append(
            Target(
                "Rate-limited batch: ddllmobs_async / theoretical minimum",
                ours,
                "<= 1.15x",
                check(ours, lambda v: v <= 1.15),
            )
        )

    def markdown(self, command: str, started: dt.datetime, duration: float, latency: float) -> str:
        lines = [
            "# Performance",
            "",
            "Generated by `bench/run.py`; do not edit by hand.",
            f"Measured {started:%Y-%m-%d %H:%M} UTC in {duration:.0f} s.",
            "",
            "Reproduce:",
            "",
            "```sh",
            "nox -s bench" + (" -- " + command if command else ""),
            "# or, in an environment with `-e .[speedups]`, `datadog-api-client[async]`, `psutil`:",
            "python bench/run.py" + (" " + command if command else ""),
            "```",
            "",
            "## Targets",
            "",
            table(["Target", "Measured", "Goal", "Result"], [t.row() for t in self.targets]),
            "",
            "## Method",
            "",
            f"- Medians of {self.n_runs} runs. Every run is a fresh process per contender, run"
            " interleaved (A B C A B C ...).",
            "- Contenders: **raw aiohttp + orjson** (the floor: parse JSON, walk the cursor, no"
            " models), **ddllmobs_async** (public API; structuring uses its internal page"
            " converter), **datadog-api-client** async (`AsyncApiClient` over aiosonic,"
            " `Configuration(host=...)` pointed at the fake, unstable operations enabled,"
            " `enable_retry=True`).",
            "- The fake Datadog (`bench/server.py`) runs in its own process on 127.0.0.1, serves"
            " pre-encoded pages of realistic experiments (all attributes, nanosecond RFC 3339"
            f" timestamps) and pre-encoded aggregate results; added latency: {latency:g} ms."
            " On machines with 2+ cores the server is pinned to CPU 1 and the contender to CPU 0.",
            "- Aggregates: each contender first sends one warm-up wave of `concurrency` requests"
            " (connections opened; our client's rate-limit gate past its cold-start probe), then"
            f" times the batch of {self.sizes.aggregates:,} requests {self.sizes.aggregate_repeat}"
            " times (3 for the official client), each after a `gc.collect()`, and reports the"
            " median batch: steady-state throughput, the same treatment for every contender, and"
            " one batch that met a noisy moment of the machine does not decide a run. The tables"
            " show the median of these per-run medians. The rate-limited batch is timed once,"
            " cold."
            " Each contender bounds its concurrency once, its own way: raw aiohttp and the"
            " official client with an `asyncio.Semaphore`, ddllmobs_async with its"
            " `max_concurrency`.",
            "",
            "## Machine",
            "",
            machine_description(),
            "",
            "## Results",
            "",
        ]
        lines += [section + "\n" for section in self.sections]
        return "\n".join(lines)


def machine_description() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
                break
    versions = []
    for dist in (
        "ddllmobs-async",
        "aiohttp",
        "orjson",
        "attrs",
        "cattrs",
        "datadog-api-client",
        "aiosonic",
    ):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist} (not installed)")
    revision = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "ddllmobs_async"], capture_output=True
        )
        if head.returncode == 0:
            revision = head.stdout.decode().strip()
            revision += " + uncommitted library changes" if dirty.stdout.strip() else ""
    return "\n".join(
        [
            f"- Source: git {revision}",
            f"- CPU: {cpu}, {os.cpu_count()} logical cores{mem}",
            f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
            f"- Python {platform.python_version()} ({platform.python_implementation()})",
            f"- Packages: {', '.join(versions)}",
        ]
    )


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per contender (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of {', '.join(WORKLOADS)}"
    )
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset")
    parser.add_argument("--latency", type=float, default=0.0, help="server latency (ms)")
    parser.add_argument(
        "--official-budget", type=float, default=0.0, help="seconds per official stream run"
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument(
        "--json",
        default=str(BENCH / "results" / "latest.json"),
        help="every run as JSON ('' to skip; bench/results/ is git-ignored)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    return parser.parse_args(argv)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def started(servers: dict[str, Server]) -> Iterator[dict[str, Server]]:
    try:
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    sizes = QUICK if args.quick else FULL
    if args.official_budget:
        sizes = Sizes(**{**sizes.__dict__, "official_budget": args.official_budget})
    only = set(filter(None, args.only.split(","))) or set(WORKLOADS)
    unknown = only - set(WORKLOADS)
    if unknown:
        print(f"unknown workload(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    contenders = tuple(c for c in CONTENDERS if c in args.contenders.split(","))
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    server_cpu, client_cpu = (1, 0) if pin else (None, None)
    command = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    started_at = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="ddllmobs-bench-") as tmp:
        tmpdir = Path(tmp)
        page_file = tmpdir / "page.json"
        totals = sorted({sizes.stream_total, sizes.memory_small, sizes.memory_large})
        latency = ["--latency", f"{args.latency:g}"]
        servers: dict[str, Server] = {}
        try:
            servers["main"] = Server(
                "main",
                ["--totals", ",".join(map(str, totals)), "--page-sizes", str(PAGE_SIZE), *latency],
                server_cpu,
                tmpdir,
            )
            if "ratelimited" in only:
                servers["limited"] = Server(
                    "limited",
                    [
                        "--totals",
                        str(PAGE_SIZE),
                        "--rate-limit",
                        f"{sizes.rate_limit}/{sizes.rate_period:g}",
                        *latency,
                    ],
                    server_cpu,
                    tmpdir,
                )
            with started(servers):
                print("servers: " + ", ".join(f"{k} {s.url}" for k, s in servers.items()))
                page_file.write_bytes(
                    servers["main"].fetch(
                        f"{LIST_PATH}?filter%5Bproject_id%5D=bench-{sizes.stream_total}"
                        f"&page%5Blimit%5D={PAGE_SIZE}"
                    )
                )
                cases = build_cases(sizes, only, contenders, page_file)
                for case in cases:
                    if case.workload in ("stream", "memory"):
                        target = ["--page-size", str(PAGE_SIZE)]
                        case.args += target
                run_cases(cases, servers, args.runs, client_cpu)
        except KeyboardInterrupt:
            print("interrupted; servers stopped", file=sys.stderr)
            return 130
        finally:
            for server in servers.values():
                server.stop()

    for case in cases:
        for runs in case.runs.values():
            for run in runs:
                if case.workload == "stream":
                    run.data.setdefault("extra", {})["target_items"] = sizes.stream_total
    report = Report(sizes, cases, args.runs)
    report.build()
    text = report.markdown(command, started_at, time.monotonic() - t0, args.latency)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    if args.json:
        dump = {c.key: {k: [r.__dict__ for r in v] for k, v in c.runs.items()} for c in cases}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_bytes(orjson.dumps(dump, option=orjson.OPT_INDENT_2))
    print(f"\nwrote {args.output}\n")
    print(table(["Target", "Measured", "Goal", "Result"], [t.row() for t in report.targets]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
