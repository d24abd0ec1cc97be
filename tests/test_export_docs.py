"""docs/analyse.md: every Python block runs as shown against the fake, and does what it says.

tests/test_docs.py runs every block of every page; here each block of this page also runs
in a scratch directory with checks on what it printed and wrote.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ddllmobs_async.testing import FakeLLMObs, Fault

PAGE = Path(__file__).resolve().parent.parent / "docs" / "analyse.md"
BLOCK = re.compile(r'^```python title="([^"]+)"\n(.*?)^```$', re.M | re.S)


def blocks() -> dict[str, str]:
    return dict(BLOCK.findall(PAGE.read_text()))


def run(source: str, name: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, name, "exec", dont_inherit=True), {"__name__": "__main__"})
    return out.getvalue()


def live(fake: FakeLLMObs) -> list[dict[str, Any]]:
    return [e for e in fake.experiments if e["attributes"]["deleted_at"] is None]


def score_means(fake: FakeLLMObs, experiment_id: str) -> dict[str, float]:
    spans, _ = fake.experiment_events(experiment_id)
    scores: dict[str, list[float]] = {}
    for span in spans:
        for metric in span.get("eval_metrics", []):
            if metric.get("metric_type") == "score" and metric.get("score_value") is not None:
                scores.setdefault(metric["label"], []).append(metric["score_value"])
    return {label: sum(v) / len(v) for label, v in scores.items()}


@pytest.fixture
async def reader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    async with FakeLLMObs.seeded(n_experiments=30) as fake:
        for name in ("DD_SITE", "DDLLMOBS_BASE_URL", "DD_APPLICATION_KEY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("DD_LLMOBS_BASE_URL", fake.url)
        monkeypatch.setenv("DD_API_KEY", fake.api_key)
        monkeypatch.setenv("DD_APP_KEY", fake.app_key)
        monkeypatch.setenv("DD_LLMOBS_PROJECT_ID", fake.project_id)
        monkeypatch.setenv("EXPERIMENT_ID", live(fake)[0]["id"])
        monkeypatch.setenv("LLMOBS_EXPORT_ROOT", str(tmp_path / "exports"))
        monkeypatch.chdir(tmp_path)
        yield fake


def test_the_page_has_the_blocks_tested_here() -> None:
    assert list(blocks()) == [
        "dataframes.py", "exact_columns.py", "nightly_export.py", "duckdb_queries.py",
    ]  # fmt: skip


async def test_dataframes(reader: FakeLLMObs) -> None:
    stdout = await asyncio.to_thread(run, blocks()["dataframes.py"], "dataframes.py")
    statuses, per_label, errors, scored = stdout.splitlines()
    assert ast.literal_eval(statuses) == dict(
        Counter(e["attributes"]["status"] for e in live(reader))
    )
    means = score_means(reader, live(reader)[0]["id"])
    assert dict(ast.literal_eval(per_label)) == pytest.approx(means)
    spans, _ = reader.experiment_events(live(reader)[0]["id"])
    failed = sum(1 for s in spans if s.get("meta", {}).get("error"))
    assert errors == f"errors: {failed} of {len(spans)}"
    analytics = {e["experiment_id"] for e in reader.eval_events}
    assert scored == f"{len(analytics)} experiments scored"


async def test_exact_columns(reader: FakeLLMObs) -> None:
    stdout = await asyncio.to_thread(run, blocks()["exact_columns.py"], "exact_columns.py")
    model, models, lossy, exact, equal = stdout.splitlines()
    configs = [e["attributes"]["config"] for e in live(reader)[:5]]
    assert model == configs[0]["model"]
    assert ast.literal_eval(models) == [config.get("model") for config in configs]
    assert lossy == "float64"  # what the page warns about
    assert exact == "int64[pyarrow] int64[pyarrow]"
    assert equal == "True"


async def test_nightly_export_resumes_after_a_failure(reader: FakeLLMObs, tmp_path: Path) -> None:
    # The listing fails on its third page (the first file holds two): the next attempt resumes.
    reader.inject(Fault.delay(0), Fault.delay(0), Fault.status(400), endpoint="experiments")
    stdout = await asyncio.to_thread(run, blocks()["nightly_export.py"], "nightly_export.py")
    lines = stdout.splitlines()
    assert lines[0].startswith("attempt 1 failed, resuming: HTTP 400")
    assert lines[1] == f"experiments: {len(live(reader)) - 20} rows, 1 files"  # resumed
    assert lines[-1] == "second run wrote 0 rows"
    night = tmp_path / "exports" / date.today().isoformat()
    files = sorted((night / "experiments").glob("part-*.parquet"))
    ids = pa.concat_tables([pq.read_table(f) for f in files])["id"].to_pylist()
    assert ids == [e["id"] for e in live(reader)]  # each exactly once, in order
    for line, experiment in zip(lines[2:5], live(reader)[:3], strict=True):
        spans, _ = reader.experiment_events(experiment["id"])
        assert line == f"{experiment['id']}: {len(spans)} spans"
        events = night / "events" / f"experiment_id={experiment['id']}"
        assert pq.read_table(events / "spans").num_rows == len(spans)
        assert (events / "summary_metrics.parquet").is_file()


async def test_duckdb_queries(reader: FakeLLMObs) -> None:
    stdout = await asyncio.to_thread(run, blocks()["duckdb_queries.py"], "duckdb_queries.py")
    by_status, by_model, by_label, by_span_status = (line for line in stdout.splitlines())
    counts = Counter(e["attributes"]["status"] for e in live(reader))
    statuses = re.findall(r"\('(\w+)', (\d+), datetime", by_status)
    assert [(status, int(n)) for status, n in statuses] == sorted(
        counts.items(), key=lambda item: (-item[1], item[0])
    )
    models = Counter(e["attributes"]["config"].get("model") for e in live(reader))
    assert sum(n for _, n in ast.literal_eval(by_model)) == sum(models.values())
    expected = [
        (experiment["id"], label, round(mean, 4))
        for experiment in sorted(live(reader)[:2], key=lambda e: e["id"])
        for label, mean in sorted(score_means(reader, experiment["id"]).items())
    ]
    printed = ast.literal_eval(by_label)
    assert [row[:2] for row in printed] == [row[:2] for row in expected]
    assert [row[2] for row in printed] == pytest.approx([row[2] for row in expected], abs=1e-4)
    evals = sum(
        len(s.get("eval_metrics", []))
        for e in live(reader)[:2]
        for s in reader.experiment_events(e["id"])[0]
    )
    assert sum(row[1] for row in ast.literal_eval(by_span_status)) == evals
