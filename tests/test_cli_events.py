"""``ddllmobs experiments events`` and ``ddllmobs projects list`` end to end (subprocess)."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ddllmobs_async.testing import FakeLLMObs, Fault, make_experiments
from tests.test_cli import TIMEOUT, ThreadedFake, assert_clean_failure, fake_env, run_cli

OTHER_PROJECT = "0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f"


@pytest.fixture
def served() -> Iterator[ThreadedFake]:
    server = ThreadedFake(n_experiments=4, events_per_experiment=8, seed=3)
    with server as fake:
        fake.add_experiments(*make_experiments(2, seed=9, project_id=OTHER_PROJECT))
        yield server


def the_fake(served: ThreadedFake) -> FakeLLMObs:
    assert served.fake is not None
    return served.fake


def events_cli(fake: FakeLLMObs, *args: str) -> subprocess.CompletedProcess[str]:
    experiment_id = fake.experiments[0]["id"]
    return run_cli(
        "experiments", "events", experiment_id, "--base-url", fake.url, *args, env=fake_env(fake)
    )


def projects_cli(fake: FakeLLMObs, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("projects", "list", "--base-url", fake.url, *args, env=fake_env(fake))


def wire_spans(fake: FakeLLMObs) -> list[dict[str, Any]]:
    spans, _ = fake.experiment_events(fake.experiments[0]["id"])
    return spans


def scores(span: dict[str, Any]) -> dict[str, Any]:
    return {
        m["label"]: m.get("score_value")
        for m in span["eval_metrics"]
        if m["metric_type"] == "score"
    }


# --- experiments events --------------------------------------------------------------------------


def test_events_jsonl_one_span_per_line_with_its_evals(served: ThreadedFake) -> None:
    fake = the_fake(served)
    result = events_cli(fake, "--format", "jsonl", "--page-size", "3")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    wire = wire_spans(fake)
    assert [line["span_id"] for line in lines] == [s["span_id"] for s in wire]
    for line, span in zip(lines, wire, strict=True):
        assert line["start_ns"] == span["start_ns"] > 2**53  # exact in the JSON text
        assert line["input"] == span["meta"]["input"]
        assert [m["id"] for m in line["eval_metrics"]] == [m["id"] for m in span["eval_metrics"]]
        assert scores(line) == scores(span)
    assert len(fake.requests_to("events")) == -(-len(wire) // 3)


def test_events_json_is_one_array(served: ThreadedFake) -> None:
    fake = the_fake(served)
    result = events_cli(fake, "--format", "json", "--limit", "3", "--page-size", "2")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [s["span_id"] for s in document] == [s["span_id"] for s in wire_spans(fake)[:3]]


def test_events_csv_has_a_column_per_eval_label(served: ThreadedFake) -> None:
    fake = the_fake(served)
    result = events_cli(fake, "--format", "csv", "--page-size", "4")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    wire = wire_spans(fake)
    assert [row["span_id"] for row in rows] == [s["span_id"] for s in wire]
    labels = {m["label"] for s in wire for m in s["eval_metrics"]}
    assert {c for c in rows[0] if c.startswith("eval:")} == {f"eval:{label}" for label in labels}
    for row, span in zip(rows, wire, strict=True):
        assert row["start_ns"] == str(span["start_ns"])
        for label, value in scores(span).items():
            expected = "" if value is None else repr(value)
            assert row[f"eval:{label}"] == expected
            assert value is None or float(row[f"eval:{label}"]) == value  # exact, not rounded
        if not span["eval_metrics"]:
            assert all(row[c] == "" for c in row if c.startswith("eval:"))


def test_events_table_shows_id_status_duration_and_evals(served: ThreadedFake) -> None:
    fake = the_fake(served)
    result = events_cli(fake)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "DURATION", "EVALS"]
    wire = wire_spans(fake)
    assert [line.split()[0] for line in lines] == [s["span_id"] for s in wire]
    first = lines[0].split()
    assert first[1] == wire[0]["status"]
    assert first[2] == f"{wire[0]['duration'] / 1e9:.2f}s"
    assert any(cell.startswith(("faithfulness=", "relevance=")) for cell in first[3:])


def test_events_failure_mid_stream_prints_the_cursor_and_resumes(served: ThreadedFake) -> None:
    fake = the_fake(served)
    served.inject(Fault.delay(0.001), Fault.status(500), endpoint="events")
    failed = events_cli(fake, "--format", "jsonl", "--page-size", "3", "--max-retries", "0")
    assert_clean_failure(failed, 1)
    assert "HTTP 500" in failed.stderr
    printed = [json.loads(line)["span_id"] for line in failed.stdout.splitlines()]
    cursor = failed.stderr.split("--cursor '")[1].split("'")[0]
    assert cursor == fake.requests_to("events")[-1].param("page[cursor]")
    resumed = events_cli(fake, "--format", "jsonl", "--page-size", "3", "--cursor", cursor)
    assert resumed.returncode == 0, resumed.stderr
    rest = [json.loads(line)["span_id"] for line in resumed.stdout.splitlines()]
    assert printed + rest == [s["span_id"] for s in wire_spans(fake)]


def test_events_unknown_experiment_exits_1_and_bad_ids_exit_2(served: ThreadedFake) -> None:
    fake = the_fake(served)
    env = fake_env(fake)
    missing = run_cli("experiments", "events", "no-such-run", "--base-url", fake.url, env=env)
    assert_clean_failure(missing, 1)
    assert "HTTP 404" in missing.stderr
    assert "hint: check the id you gave" in missing.stderr
    before = len(fake.requests)
    for output in ("table", "json", "csv"):
        bad = run_cli(
            "experiments", "events", "a/b", "--base-url", fake.url, "--format", output, env=env
        )
        assert_clean_failure(bad, 2)
        assert "experiment_id" in bad.stderr
        assert bad.stdout == ""  # no header, no "[": the id was refused before anything
    size = run_cli("experiments", "events", "x", "--page-size", "0", env=env)
    assert_clean_failure(size, 2)
    assert len(fake.requests) == before


def test_events_ctrl_c_exits_130_with_the_resume_cursor(served: ThreadedFake) -> None:
    fake = the_fake(served)
    served.inject(Fault.delay(0.001), Fault.delay(15), endpoint="events")
    command = ["experiments", "events", fake.experiments[0]["id"], "--base-url", fake.url]
    process = subprocess.Popen(
        [sys.executable, "-m", "ddllmobs_async", *command, "--page-size", "2", "--format", "json"],
        env=fake_env(fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + TIMEOUT
    while len(fake.requests_to("events")) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 130
    second = fake.requests_to("events")[1].param("page[cursor]")
    assert f"--cursor '{second}'" in stderr
    assert [s["span_id"] for s in json.loads(stdout)] == [
        s["span_id"] for s in wire_spans(fake)[:2]
    ]


# --- projects list -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "table"])
def test_projects_list_every_format(served: ThreadedFake, fmt: str) -> None:
    fake = the_fake(served)
    result = projects_cli(fake, "--format", fmt, "--page-size", "1")
    assert result.returncode == 0, result.stderr
    expected = [p["id"] for p in fake.projects]
    assert len(expected) == 2
    if fmt == "jsonl":
        ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    elif fmt == "json":
        ids = [p["id"] for p in json.loads(result.stdout)]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        ids = [row["id"] for row in rows]
        assert set(rows[0]) == {"id", "name", "description", "created_at", "updated_at"}
    else:
        header, *lines = result.stdout.splitlines()
        assert header.split() == ["ID", "NAME", "CREATED", "DESCRIPTION"]
        ids = [line.split()[0] for line in lines]
    assert ids == expected
    assert len(fake.requests_to("projects")) == 2


def test_projects_list_filters(served: ThreadedFake) -> None:
    fake = the_fake(served)
    by_name = projects_cli(fake, "--name", "My LLM Project", "--format", "jsonl")
    assert by_name.returncode == 0, by_name.stderr
    assert [json.loads(line)["name"] for line in by_name.stdout.splitlines()] == ["My LLM Project"]
    by_ids = projects_cli(fake, "--id", OTHER_PROJECT, "--id", "nope", "--format", "jsonl")
    assert by_ids.returncode == 0, by_ids.stderr
    assert [json.loads(line)["id"] for line in by_ids.stdout.splitlines()] == [OTHER_PROJECT]
    assert fake.requests_to("projects")[-1].params("filter[id]") == [OTHER_PROJECT, "nope"]


def test_projects_list_failure_prints_the_cursor(served: ThreadedFake) -> None:
    fake = the_fake(served)
    served.inject(Fault.delay(0.001), Fault.status(500), endpoint="projects")
    failed = projects_cli(fake, "--format", "jsonl", "--page-size", "1", "--max-retries", "0")
    assert_clean_failure(failed, 1)
    cursor = failed.stderr.split("--cursor '")[1].split("'")[0]
    resumed = projects_cli(fake, "--format", "jsonl", "--page-size", "1", "--cursor", cursor)
    assert resumed.returncode == 0, resumed.stderr
    ids = [json.loads(line)["id"] for line in (failed.stdout + resumed.stdout).splitlines()]
    assert ids == [p["id"] for p in fake.projects]
