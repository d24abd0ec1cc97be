"""The machinery of ``bench/run.py``: contenders, the fake server process, cases and runs.

A *scenario* (``bench/scenarios/``) turns a :class:`Plan` into :class:`Case` s (what to run) and
later turns the measured cases into a :class:`Section` of ``docs/performance.md`` (tables, text
and :class:`Target` s with PASS/MISS). Adding a benchmark is adding a scenario; this module
does not change.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LIST_PATH = "/api/v2/llm-obs/v1/experiments"
# No proxies: every request of the runner goes to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------------------------
# contenders
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Contender:
    """A row of the tables: a contender module run with extra arguments and environment."""

    key: str
    module: str
    label: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    max_runs: int | None = None


RAW, OURS, OFFICIAL = "raw_aiohttp", "ddllmobs", "official"
RAW_STDLIB, OURS_PLAIN = "raw_aiohttp_stdlib", "ddllmobs_plain"
OURS_PREFETCH, OURS_MANY = "ddllmobs_prefetch", "ddllmobs_many"
MODULES = (RAW, OURS, OFFICIAL)
OFFICIAL_RUNS = 3
CONTENDERS = {
    c.key: c
    for c in (
        Contender(RAW, RAW, "raw aiohttp + orjson (floor)"),
        Contender(OURS, OURS, "ddllmobs_async"),
        # 10-50x off ours: more than three runs change nothing but the bench's length
        Contender(OFFICIAL, OFFICIAL, "datadog-api-client async", max_runs=OFFICIAL_RUNS),
        Contender(OURS_PREFETCH, OURS, "ddllmobs_async, `prefetch=1`", ("--prefetch", "1")),
        Contender(OURS_MANY, OURS, "ddllmobs_async, `aggregate_many`", ("--batch-api", "many")),
        Contender(RAW_STDLIB, RAW, "raw aiohttp + stdlib `json` (floor)", ("--json", "stdlib")),
        Contender(OURS_PLAIN, OURS, "ddllmobs_async, no orjson", env={"DDLLMOBS_NO_ORJSON": "1"}),
    )
}


def label(key: str) -> str:
    return CONTENDERS[key].label


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------
def _pin(cpu: int | None) -> Callable[[], None] | None:
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


PagesNeeded = set[tuple[str, int, int]]  # ("experiments" | "events", total, page_size)


class Server:
    """``bench/server.py`` in a subprocess, serving every page the cases need."""

    def __init__(self, pages: PagesNeeded, cpu: int | None, logdir: Path) -> None:
        self.log_path = logdir / "server.log"
        self._log: IO[bytes] = self.log_path.open("wb")

        def pairs(kind: str) -> str:
            return ",".join(f"{t}:{s}" for k, t, s in sorted(pages) if k == kind)

        cmd = [sys.executable, "-m", "bench.server"]
        cmd += ["--experiment-pages", pairs("experiments"), "--event-pages", pairs("events")]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            preexec_fn=_pin(cpu),
        )
        self.url = ""

    def wait_ready(self, timeout: float = 300.0) -> str:
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
        raise RuntimeError(f"server did not start:\n{self.log_tail()}")

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return ""

    def configure(self, config: Mapping[str, Any]) -> None:
        """Latency, rate limit and reset format for the next run; counters back to 0."""
        request = urllib.request.Request(
            self.url + "/_bench/config", data=orjson.dumps(dict(config)), method="POST"
        )
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
    wall: float = 0.0  # the whole process, start-up and server configuration included

    @property
    def elapsed(self) -> float:
        return float(self.data.get("elapsed", 0.0))

    def extra(self, key: str, default: float = 0.0) -> float:
        return float(self.data.get("extra", {}).get(key, default))


def run_contender(
    key: str, args: Sequence[str], timeout: float, cpu: int | None, server: Server | None
) -> Run:
    contender = CONTENDERS[key]
    cmd = [sys.executable, "-m", f"bench.contenders.{contender.module}", *args, *contender.args]
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            preexec_fn=_pin(cpu),
            env={**os.environ, **contender.env},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Run(key, ok=False, error=f"timeout after {timeout:.0f}s")
    lines = [ln for ln in proc.stdout.decode().splitlines() if ln.startswith("RESULT ")]
    if not lines:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        return Run(key, ok=False, error=f"exit {proc.returncode}: {' | '.join(tail)}")
    data: dict[str, Any] = orjson.loads(lines[-1][len("RESULT ") :])
    if server is not None:
        stats = server.stats()
        data["server_requests"] = stats["requests"]
        data["server_429"] = stats["throttled"]
    error = data.get("error")
    if error:
        return Run(key, ok=False, data=data, error=str(error))
    return Run(key, ok=True, data=data)


# --------------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------------
@dataclass
class Case:
    """One workload variant, run for every contender ``runs`` times, interleaved.

    ``server`` is the fake's configuration for every run of the case (``None``: no server);
    ``pages`` the pre-encoded pages it needs; ``max_runs`` caps the runs of a slow, stable case.
    ``prepare`` runs once with the started server before the first run (e.g. to save a page).
    """

    key: str
    title: str
    args: list[str]
    contenders: tuple[str, ...]
    server: dict[str, Any] | None = field(default_factory=dict)
    pages: PagesNeeded = field(default_factory=set)
    per_contender: dict[str, list[str]] = field(default_factory=dict)
    timeout: float = 600.0
    max_runs: int | None = None
    prepare: Callable[[Server], None] | None = None
    runs: dict[str, list[Run]] = field(default_factory=dict)

    def ok_runs(self, contender: str) -> list[Run]:
        return [r for r in self.runs.get(contender, []) if r.ok]

    def median(self, contender: str, metric: Callable[[Run], float]) -> float | None:
        values = [metric(r) for r in self.ok_runs(contender)]
        return statistics.median(values) if values else None

    def time(self, contender: str) -> float | None:
        return self.median(contender, lambda r: r.elapsed)

    def errors(self, contender: str) -> list[str]:
        return [r.error for r in self.runs.get(contender, []) if not r.ok]

    def error_note(self, contender: str) -> str:
        errors = self.errors(contender)
        if not errors:
            return ""
        if all(e.startswith("n/a") for e in errors):
            return errors[0]
        return f"{len(errors)} failed run(s): {errors[0][:160]}"


def case_runs(case: Case, contender: str, n_runs: int) -> int:
    """How many times ``contender`` runs in ``case`` for ``--runs n_runs``."""
    return min(n_runs, case.max_runs or n_runs, CONTENDERS[contender].max_runs or n_runs)


def projected_seconds(case: Case, n_runs: int) -> float:
    """This case's wall time for ``--runs n_runs``, from the mean wall time of its runs."""
    total = 0.0
    for contender, runs in case.runs.items():
        if runs:
            total += statistics.mean(r.wall for r in runs) * case_runs(case, contender, n_runs)
    return total


def run_case(case: Case, server: Server | None, n_runs: int, cpu: int | None) -> None:
    runs = min(n_runs, case.max_runs or n_runs)
    url = ["--url", server.url] if server and case.server is not None else []
    print(f"== {case.title}", flush=True)
    if case.prepare is not None and server is not None:
        case.prepare(server)
    for i in range(runs):
        for contender in case.contenders:  # interleaved: A B C A B C ...
            if i >= case_runs(case, contender, n_runs):
                continue
            if server is not None and case.server is not None:
                server.configure(case.server)
            args = [*case.args, *url, *case.per_contender.get(contender, [])]
            target = server if case.server is not None else None
            start = time.monotonic()
            run = run_contender(contender, args, case.timeout, cpu, target)
            run.wall = time.monotonic() - start
            case.runs.setdefault(contender, []).append(run)
            shown = f"{run.elapsed:.4f}s" if run.ok else f"FAILED {run.error[:100]}"
            print(f"   run {i + 1}/{runs} {contender:<18} {shown}", flush=True)
