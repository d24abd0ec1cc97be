"""The benchmark harness counts the same work for every contender (speed is not checked here).

A quick ``bench/run.py`` run with raw aiohttp and ddllmobs_async against the benchmark's own
fake server (loopback only); the official client is left out (not a test dependency).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICK_AGGREGATES = 100  # bench/run.py QUICK sizes
QUICK_REPEAT = 3
BUCKETS_PER_RESULT = 8  # bench/server.py's pre-encoded analytics answer


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    command = [
        sys.executable, "bench/run.py", "--quick", "--runs", "1",
        "--contenders", "raw_aiohttp,ddllmobs",
        "--output", str(out / "performance.md"), "--json", str(out / "runs.json"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads((out / "runs.json").read_text())
    return runs, (out / "performance.md").read_text()


def results(runs: dict[str, Any], case: str) -> dict[str, dict[str, Any]]:
    """``{contender: data}`` of a case's only run, every run checked to have succeeded."""
    found = {}
    for contender, contender_runs in runs[case].items():
        (run,) = contender_runs
        assert run["ok"], (case, contender, run["error"])
        found[contender] = run["data"]
    return found


def test_every_workload_ran_for_both_contenders(quick_run: tuple[dict[str, Any], str]) -> None:
    runs, _ = quick_run
    assert set(runs) == {
        "stream", "structure", "aggregate-1", "aggregate-16", "aggregate-64",
        "memory-10000", "memory-30000", "ratelimited",
    }  # fmt: skip
    assert set(results(runs, "stream")) == {"raw_aiohttp", "ddllmobs", "ddllmobs_prefetch"}


def test_streams_and_pages_count_every_item(quick_run: tuple[dict[str, Any], str]) -> None:
    runs, _ = quick_run
    for data in results(runs, "stream").values():
        assert data["items"] == 10_000 and data["server_requests"] == 2
    for total in (10_000, 30_000):
        for data in results(runs, f"memory-{total}").values():
            assert data["items"] == total and data["server_requests"] == total // 5000
    for data in results(runs, "structure").values():
        assert data["items"] == 5000 and len(data["extra"]["times"]) == 3


@pytest.mark.parametrize("concurrency", [1, 16, 64])
def test_aggregates_send_the_same_requests_for_every_contender(
    quick_run: tuple[dict[str, Any], str], concurrency: int
) -> None:
    runs, _ = quick_run
    for data in results(runs, f"aggregate-{concurrency}").values():
        # one warm-up wave, then the timed batches; the counters are the last batch's
        assert data["server_requests"] == concurrency + QUICK_REPEAT * QUICK_AGGREGATES
        assert data["items"] == QUICK_AGGREGATES * BUCKETS_PER_RESULT
        assert len(data["extra"]["times"]) == QUICK_REPEAT
        assert data["elapsed"] in data["extra"]["times"]  # the median of an odd count


def test_rate_limited_batch_is_counted_by_the_server(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    runs, _ = quick_run
    found = results(runs, "ratelimited")
    ours, raw = found["ddllmobs"], found["raw_aiohttp"]
    assert ours["items"] == raw["items"] == 20 * BUCKETS_PER_RESULT
    assert ours["server_requests"] == 20 and ours["server_429"] == 0
    assert raw["server_requests"] == 20 + raw["server_429"]  # each 429 cost raw a request


def test_the_report_has_every_target_and_no_invented_numbers(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    _, report = quick_run
    for target in (
        "Streaming 10,000: ddllmobs_async / raw floor",
        "Aggregates at concurrency 64: ddllmobs_async / raw throughput",
        "Memory: peak RSS 30,000 / 10,000 (ddllmobs_async)",
        "Rate-limited batch: ddllmobs_async / theoretical minimum",
    ):
        line = next(line for line in report.splitlines() if line.startswith(f"| {target} |"))
        assert line.endswith(("| PASS |", "| MISS |")), line
    # without the official client its comparisons are n/a, not made up
    official = next(line for line in report.splitlines() if "official / ddllmobs_async" in line)
    assert "| n/a |" in official
