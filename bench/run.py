"""Benchmark runner: ``nox -s bench`` (or ``python bench/run.py``); never run by the tests.

Starts the fake Datadog (``bench/server.py``) in its own process, runs every contender
(``bench/contenders/*.py``) in a fresh process per run, interleaved ``A B C A B C ...``, takes
medians over ``--runs`` runs and writes ``docs/performance.md`` with every target's PASS/MISS.

Scenarios (``--only`` picks some, comma-separated; see ``bench/scenarios/``): stream,
structure, aggregate, memory (client CPU, no added latency), ratelimited, stall, latency,
batch, plain (no orjson), events, export (Parquet).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench._harness import (
    BENCH,
    MODULES,
    OFFICIAL_RUNS,
    ROOT,
    Case,
    Server,
    projected_seconds,
    run_case,
)
from bench._scenario import Plan, Section, Target, table
from bench.scenarios import SCENARIOS

FULL_RUNS, FULL_RUN_LIMIT = 5, 30 * 60.0  # issue 15: `nox -s bench -- --runs 5` in 30 min
SERVER_START = "(server start: encoding pages)"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per contender (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    keys = ", ".join(s.key for s in SCENARIOS)
    parser.add_argument("--only", default="", help=f"comma-separated subset of {keys}")
    parser.add_argument("--contenders", default=",".join(MODULES), help="comma-separated subset")
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    only = set(filter(None, args.only.split(","))) or {s.key for s in SCENARIOS}
    unknown = only - {s.key for s in SCENARIOS}
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    scenarios = [s for s in SCENARIOS if s.key in only]
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    server_cpu, client_cpu = (1, 0) if pin else (None, None)
    command = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    started_at = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    durations: dict[str, float] = {}

    with tempfile.TemporaryDirectory(prefix="ddllmobs-bench-") as tmp:
        plan = Plan(
            quick=args.quick,
            runs=args.runs,
            modules=tuple(m for m in MODULES if m in args.contenders.split(",")),
            workdir=Path(tmp),
            official_budget=args.official_budget,
        )
        planned = {s.key: s.cases(plan) for s in scenarios}
        every_case = [case for cases in planned.values() for case in cases]
        pages = set().union(*(case.pages for case in every_case))
        server = Server(pages, server_cpu, Path(tmp))
        try:
            server.wait_ready()
            durations[SERVER_START] = time.monotonic() - t0
            print(f"server: {server.url} ({durations[SERVER_START]:.0f} s)")
            for key, cases in planned.items():
                start = time.monotonic()
                for case in cases:
                    run_case(case, server, args.runs, client_cpu)
                durations[key] = time.monotonic() - start
                print(f"-- scenario {key}: {durations[key]:.0f} s", flush=True)
        except KeyboardInterrupt:
            print("interrupted; server stopped", file=sys.stderr)
            return 130
        finally:
            server.stop()

    measured = {case.key: case for case in every_case}
    sections = [section for s in scenarios for section in s.report(plan, measured)]
    total = time.monotonic() - t0
    full = not args.quick and args.runs >= FULL_RUNS and len(scenarios) == len(SCENARIOS)
    projected = durations[SERVER_START] + sum(projected_seconds(c, FULL_RUNS) for c in every_case)
    sections.append(duration_section(durations, total, full, projected))
    text = markdown(plan, sections, command, started_at, total)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    if args.json:
        write_json(Path(args.json), every_case, durations)
    print(f"\nwrote {args.output}\n")
    print(targets_table([t for s in sections for t in s.targets]))
    print("\n" + sections[-1].body)
    return 0


def duration_section(
    durations: dict[str, float], total: float, full: bool, projected: float
) -> Section:
    rows = [[key, f"{seconds:.0f} s"] for key, seconds in durations.items()]
    rows.append(["**total**", f"**{total:.0f} s** ({total / 60:.1f} min)"])
    body = table(["Scenario", "Wall time"], rows)
    body += (
        f"\n\nProjected for `--runs {FULL_RUNS}` with these sizes, from the mean wall time of"
        f" each case's runs: {projected:.0f} s ({projected / 60:.1f} min)."
    )
    passed = total <= FULL_RUN_LIMIT if full else None
    goal = f"<= {FULL_RUN_LIMIT / 60:.0f} min (full `--runs {FULL_RUNS}` run)"
    target = Target(15, "Benchmark duration", f"{total / 60:.1f} min", goal, passed)
    return Section("Duration by scenario", body, [target])


def targets_table(targets: list[Target]) -> str:
    return table(["Issue", "Target", "Measured", "Goal", "Result"], [t.row() for t in targets])


def write_json(path: Path, cases: list[Case], durations: dict[str, float]) -> None:
    dump = {
        "durations": durations,
        "cases": {c.key: {k: [r.__dict__ for r in v] for k, v in c.runs.items()} for c in cases},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(dump, option=orjson.OPT_INDENT_2))


def markdown(
    plan: Plan, sections: list[Section], command: str, started: dt.datetime, duration: float
) -> str:
    targets = [t for s in sections for t in s.targets]
    lines = [
        "# Performance",
        "",
        "Generated by `bench/run.py`; do not edit by hand.",
        f"Measured {started:%Y-%m-%d %H:%M} UTC in {duration:.0f} s"
        + (" (`--quick`: small sizes, a smoke run, not a result)." if plan.quick else "."),
        "",
        "Reproduce:",
        "",
        "```sh",
        "nox -s bench" + (" -- " + command if command else ""),
        "# or, in an environment with `-e .[speedups,arrow]`, `datadog-api-client[async]`,"
        " `psutil`:",
        "python bench/run.py" + (" " + command if command else ""),
        "```",
        "",
        "## Targets",
        "",
        targets_table(targets),
        "",
        "## Method",
        "",
        f"- Medians of {plan.runs} runs (the official client: {min(plan.runs, OFFICIAL_RUNS)};"
        " a few slow, stable cases cap their runs, see their tables). Every run is a fresh"
        " process per contender, run interleaved (A B C A B C ...).",
        "- Contenders: **raw aiohttp + orjson** (the floor: parse JSON, walk the cursor, no"
        " models; with stdlib `json` for the plain-install rows), **ddllmobs_async** (public"
        " API only), **datadog-api-client** async (`AsyncApiClient` over aiosonic,"
        " `Configuration(host=...)` pointed at the fake, unstable operations enabled,"
        " `enable_retry=True`).",
        "- The fake Datadog (`bench/server.py`) runs in its own process on 127.0.0.1 and serves"
        " pre-encoded pages of realistic experiments (all attributes, nanosecond RFC 3339"
        " timestamps) and spans (`bench/_data.py`), and pre-encoded aggregate results. Rows"
        " marked **client CPU** have no added latency: there every microsecond of the client"
        " shows, which a real round trip to Datadog (tens of ms) hides; the realistic-latency"
        " rows answer every request after 20 ms (a near Datadog region). On machines with 2+"
        " cores the server is pinned to CPU 1 and the contender to CPU 0.",
        "- Aggregates: each contender first sends one warm-up wave of `concurrency` requests"
        " (connections opened; our client's rate-limit gate past its cold-start probe), then"
        " times the batch several times, each after a `gc.collect()`, and reports the median"
        " batch; the tables show the median of these per-run medians. The rate-limited and the"
        " batch-size batches are timed once, cold. Each contender bounds its concurrency once,"
        " its own way: raw aiohttp and the official client with an `asyncio.Semaphore`,"
        " ddllmobs_async with its `max_concurrency`.",
        "",
        "## Machine",
        "",
        machine_description(),
        "",
        "## Results",
        "",
    ]
    lines += [section.markdown() for section in sections]
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
    return "\n".join(
        [
            f"- Source: git {git_revision()}",
            f"- CPU: {cpu}, {os.cpu_count()} logical cores{mem}",
            f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
            f"- Python {platform.python_version()} ({platform.python_implementation()})",
            f"- Packages: {', '.join(versions)}",
        ]
    )


def git_revision() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "ddllmobs_async"], capture_output=True
        )
        if head.returncode == 0:
            revision = head.stdout.decode().strip()
            return revision + (" + uncommitted library changes" if dirty.stdout.strip() else "")
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
