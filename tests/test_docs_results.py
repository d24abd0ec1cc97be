"""Every Python block of ``docs/results.md`` runs as shown, against the fake, and prints
what the fake's data says it should.

Each block is a complete script: it is run by ``python -c`` in a temporary directory with
the keys, ``DD_LLMOBS_BASE_URL`` (the fake) and ``EXPERIMENT_ID`` in its environment.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ddllmobs_async.testing import FakeLLMObs, Fault
from tests.test_cli import TIMEOUT, ThreadedFake, fake_env

PAGE = Path(__file__).resolve().parent.parent / "docs" / "results.md"
BLOCK = re.compile(r'^```python title="[^"]+"\n(.*?)^```$', re.MULTILINE | re.DOTALL)


def blocks() -> list[str]:
    return BLOCK.findall(PAGE.read_text())


@pytest.fixture(scope="module")
def served() -> Iterator[ThreadedFake]:
    server = ThreadedFake(n_experiments=3, events_per_experiment=300, seed=5)
    with server:
        yield server


def run(block: str, fake: FakeLLMObs, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = fake_env(fake)
    env.update(
        DD_LLMOBS_BASE_URL=fake.url, EXPERIMENT_ID=fake.experiments[0]["id"], TMPDIR=str(cwd)
    )
    return subprocess.run(
        [sys.executable, "-c", block],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def the_fake(served: ThreadedFake) -> FakeLLMObs:
    assert served.fake is not None
    return served.fake


def wire(fake: FakeLLMObs) -> list[dict[str, Any]]:
    spans, _ = fake.experiment_events(fake.experiments[0]["id"])
    return spans


def test_the_page_has_the_five_samples() -> None:
    assert len(blocks()) == 5
    for block in blocks():
        assert "asyncio.run(main())" in block and "import ddllmobs_async as dd" in block


def test_find_a_project(served: ThreadedFake, tmp_path: Path) -> None:
    fake = the_fake(served)
    result = run(blocks()[0], fake, tmp_path)
    assert result.returncode == 0, result.stderr
    project, *experiments = result.stdout.splitlines()
    assert project.startswith(f"{fake.project_id} My LLM Project ")
    live = [e for e in fake.experiments if e["attributes"]["deleted_at"] is None]
    assert [line.split()[0] for line in experiments] == [e["id"] for e in live[:3]]


def test_stream_spans(served: ThreadedFake, tmp_path: Path) -> None:
    fake = the_fake(served)
    result = run(blocks()[1], fake, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("   error:")]
    spans = wire(fake)
    assert [line.split()[0] for line in lines] == [s["span_id"] for s in spans]
    assert [line.split()[1] for line in lines] == [
        "child" if "parent_id" in s else "root" for s in spans
    ]
    errors = result.stdout.count("   error: TimeoutError")
    assert errors == sum(1 for s in spans if s["status"] == "error") > 0


def test_evals_by_type(served: ThreadedFake, tmp_path: Path) -> None:
    fake = the_fake(served)
    result = run(blocks()[2], fake, tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = [m for s in wire(fake) for m in s["eval_metrics"]]
    expected = []
    for label in sorted({m["label"] for m in metrics if m["metric_type"] == "score"}):
        values = [m["score_value"] for m in metrics if m["label"] == label]
        numbers = [v for v in values if v is not None]
        expected.append(f"score {label}: mean {statistics.fmean(numbers):.4f} over {len(numbers)}")
    tones = Counter(m["categorical_value"] for m in metrics if m["metric_type"] == "categorical")
    expected.append(f"categorical tone: {dict(sorted(tones.items()))}")
    matches = Counter(m["boolean_value"] for m in metrics if m["metric_type"] == "boolean")
    expected.append(f"boolean exact_match: {matches[True]} true, {matches[False]} false")
    assert result.stdout.splitlines() == expected


def test_checkpoint_and_resume(served: ThreadedFake, tmp_path: Path) -> None:
    fake = the_fake(served)
    spans = wire(fake)
    assert len(spans) > 400  # three pages of 200
    work = tmp_path / f"export-{fake.experiments[0]['id']}"
    served.inject(Fault.delay(0.001), Fault.status(400), endpoint="events")
    failed = run(blocks()[3], fake, tmp_path)
    assert failed.returncode == 1 and "BadRequestError" in failed.stderr
    checkpoint = (work / "cursor").read_text()
    assert checkpoint == fake.requests_to("events")[-1].param("page[cursor]")
    done = run(blocks()[3], fake, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {len(spans)} spans to {work / 'spans.jsonl'}\n"
    written = [json.loads(line) for line in (work / "spans.jsonl").read_text().splitlines()]
    assert [r["span_id"] for r in written] == [s["span_id"] for s in spans]  # each once
    assert not (work / "cursor").exists()
    again = run(blocks()[3], fake, tmp_path)  # no checkpoint: a fresh export, not appended
    assert again.stdout == done.stdout


def test_collect_one_experiments_results(served: ThreadedFake, tmp_path: Path) -> None:
    fake = the_fake(served)
    result = run(blocks()[4], fake, tmp_path)
    assert result.returncode == 0, result.stderr
    spans = wire(fake)
    _, summary = fake.experiment_events(fake.experiments[0]["id"])
    failed = sum(1 for s in spans if s["status"] == "error")
    lines = result.stdout.splitlines()
    assert lines[0] == f"{len(spans)} spans, {failed} failed"
    values = [m.get("score_value", m.get("boolean_value")) for m in summary]
    assert lines[1:-1] == [
        f"summary {m['label']} = {v}" for m, v in zip(summary, values, strict=True)
    ]
    faithfulness = sum(m["label"] == "faithfulness" for s in spans for m in s["eval_metrics"])
    assert lines[-1] == f"faithfulness evals: {faithfulness}"
