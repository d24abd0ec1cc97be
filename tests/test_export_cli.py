"""``--format parquet`` of the ``ddllmobs`` commands, run as a subprocess against the fake."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ddllmobs_async.export import EVAL_METRICS_SCHEMA, EXPERIMENTS_SCHEMA, SPANS_SCHEMA
from ddllmobs_async.testing import Fault
from tests.test_cli import (
    TIMEOUT,
    ThreadedFake,
    aggregate_cli,
    assert_clean_failure,
    fake_env,
    list_cli,
    run_cli,
    visible,
)


@pytest.fixture
def served() -> Iterator[ThreadedFake]:
    server = ThreadedFake(n_experiments=30, seed=7)
    with server:
        yield server


def parts(directory: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted(directory.glob("part-*.parquet"))])


def test_experiments_list_to_parquet_fails_mid_stream_then_resumes(
    served: ThreadedFake, tmp_path: Path
) -> None:
    fake = served.fake
    assert fake is not None
    out = tmp_path / "experiments"
    options = ("--format", "parquet", "--output", str(out), "--page-size", "4")
    served.inject(*[Fault.delay(0)] * 3, Fault.status(400), endpoint="experiments")
    failed = list_cli(fake, *options, "--prefetch", "1")
    assert_clean_failure(failed, 1)
    assert "HTTP 400" in failed.stderr and "--resume" in failed.stderr
    assert failed.stdout == ""

    again = list_cli(fake, *options)  # a checkpoint without --resume: a usage error
    assert_clean_failure(again, 2)
    assert "--resume" in again.stderr and "checkpoint" in again.stderr

    resumed = list_cli(fake, *options, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    table = parts(out)
    assert table.schema.equals(EXPERIMENTS_SCHEMA)
    assert table["id"].to_pylist() == [e["id"] for e in visible(fake)]  # each exactly once
    assert f"written to {out}" in resumed.stderr

    done = list_cli(fake, *options, "--resume")
    assert done.returncode == 0 and "already holds the complete export" in done.stderr


def test_experiments_events_to_parquet(served: ThreadedFake, tmp_path: Path) -> None:
    fake = served.fake
    assert fake is not None
    experiment_id = visible(fake)[0]["id"]
    spans, summary = fake.experiment_events(experiment_id)
    out = tmp_path / "events"
    args = ("experiments", "events", experiment_id, "--base-url", fake.url)
    result = run_cli(
        *args, "--format", "parquet", "--output", str(out), "--page-size", "3", env=fake_env(fake)
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(spans)} spans in" in result.stderr
    span_table = parts(out / "spans")
    assert span_table.schema.equals(SPANS_SCHEMA)
    assert span_table["span_id"].to_pylist() == [s["span_id"] for s in spans]
    evals = parts(out / "evals")
    assert evals.num_rows == sum(len(s.get("eval_metrics", [])) for s in spans) > 0
    summary_table = pq.read_table(out / "summary_metrics.parquet")
    assert summary_table.schema.equals(EVAL_METRICS_SCHEMA)
    assert summary_table["label"].to_pylist() == [m["label"] for m in summary]

    again = run_cli(*args, "--format", "parquet", "--output", str(out), env=fake_env(fake))
    assert_clean_failure(again, 2)
    assert "--resume" in again.stderr
    other = run_cli(
        *args, "--format", "parquet", "--output", str(out), "--resume", env=fake_env(fake)
    )
    assert_clean_failure(other, 2)  # another page size: another export
    assert "other arguments" in other.stderr


def test_aggregate_to_a_parquet_file(served: ThreadedFake, tmp_path: Path) -> None:
    fake = served.fake
    assert fake is not None
    query = ("--metric", "score_value:avg", "--metric", "count", "--group-by", "label")
    as_json = aggregate_cli(fake, *query, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    out = tmp_path / "scores.parquet"
    result = aggregate_cli(fake, *query, "--format", "parquet", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and f"written to {out}" in result.stderr
    table = pq.read_table(out)
    assert table.schema.names == ["label", "avg", "count"]
    assert [f.type for f in table.schema] == [pa.string(), pa.float64(), pa.float64()]
    buckets = json.loads(as_json.stdout)["buckets"]
    assert table["label"].to_pylist() == [b["by"]["label"] for b in buckets]
    assert table["avg"].to_pylist() == pytest.approx([b["metrics"]["avg"] for b in buckets])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["experiments", "list", "--project-id", "p", "--format", "parquet"], "needs --output"),
        (["experiments", "list", "--project-id", "p", "--output", "x"], "--format parquet"),
        (["experiments", "list", "--project-id", "p", "--resume"], "--format parquet"),
        (
            ["experiments", "list", "--project-id", "p", "--format", "parquet", "--output", "x",
             "--cursor", "c"],
            "--cursor does not apply to --format parquet: an export resumes from its "
            "checkpoint with --resume",
        ),
        (["experiments", "events", "e", "--format", "parquet", "--output", "x", "--limit", "3"],
         "--limit does not apply to --format parquet: an export writes everything; Ctrl-C "
         "stops it and --resume continues it"),
        (["aggregate", "--metric", "count", "--format", "parquet"], "needs --output"),
    ],
)  # fmt: skip
def test_parquet_usage_errors_exit_2(
    served: ThreadedFake, tmp_path: Path, args: list[str], message: str
) -> None:
    fake = served.fake
    assert fake is not None
    result = run_cli(*args, "--base-url", fake.url, env=fake_env(fake))
    assert_clean_failure(result, 2)
    assert message in result.stderr
    assert fake.requests == []


def test_ctrl_c_mid_export_then_resume(served: ThreadedFake, tmp_path: Path) -> None:
    fake = served.fake
    assert fake is not None
    out = tmp_path / "experiments"
    served.inject(*[Fault.delay(0)] * 3, Fault.delay(15), endpoint="experiments")  # page 4 hangs
    process = subprocess.Popen(
        [sys.executable, "-m", "ddllmobs_async", "experiments", "list", "--page-size", "4",
         "--format", "parquet", "--output", str(out), "--base-url", fake.url,
         "--project-id", fake.project_id],
        env=fake_env(fake), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while len(fake.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 130, stderr
    assert "interrupted; the files written so far are kept: rerun with --resume" in stderr
    assert "Traceback" not in stderr
    assert not list(out.rglob(".*"))  # no temporary file left behind
    resumed = list_cli(fake, "--page-size", "4", "--format", "parquet", "--output", str(out),
                       "--resume")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert parts(out)["id"].to_pylist() == [e["id"] for e in visible(fake)]


WITHOUT_PYARROW = (
    "import sys; sys.modules['pyarrow'] = None; from ddllmobs_async.cli import main; "
    "sys.argv[0] = 'ddllmobs'; sys.exit(main())"
)


@pytest.mark.parametrize(
    "command",
    [
        ["experiments", "list", "--project-id", "p"],
        ["experiments", "events", "an-experiment"],
        ["aggregate", "--metric", "count", "--group-by", "label"],
    ],
)
def test_parquet_without_pyarrow_is_a_usage_error_naming_the_extra(
    served: ThreadedFake, tmp_path: Path, command: list[str]
) -> None:
    fake = served.fake
    assert fake is not None
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PYARROW, *command, "--base-url", fake.url,
         "--format", "parquet", "--output", str(out)],
        env=fake_env(fake), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert_clean_failure(result, 2)
    assert result.stderr.strip().splitlines() == [
        "ddllmobs: error: ddllmobs_async.export needs pyarrow: install the arrow extra, "
        "pip install 'ddllmobs-async[arrow]'"
    ]
    assert fake.requests == [] and not out.exists()


def test_outputs_that_cannot_be_written_are_one_line_usage_errors(
    served: ThreadedFake, tmp_path: Path
) -> None:
    fake = served.fake
    assert fake is not None
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    listed = list_cli(fake, "--format", "parquet", "--output", str(a_file))
    assert_clean_failure(listed, 2)
    assert listed.stderr.splitlines() == [
        f"ddllmobs: error: --output {a_file} is a file: name a directory for the dataset"
    ]
    assert a_file.read_text() == "mine"
    query = ("--metric", "count", "--group-by", "label", "--format", "parquet", "--output")
    missing = aggregate_cli(fake, *query, str(tmp_path / "no-such" / "x.parquet"))
    assert_clean_failure(missing, 2)
    assert "no directory" in missing.stderr and len(missing.stderr.splitlines()) == 1
    directory = aggregate_cli(fake, *query, str(tmp_path))
    assert_clean_failure(directory, 2)
    assert "is a directory" in directory.stderr and len(directory.stderr.splitlines()) == 1
    assert fake.requests == []  # refused before any request
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_an_unknown_experiment_offers_no_resume_when_nothing_was_written(
    served: ThreadedFake, tmp_path: Path
) -> None:
    fake = served.fake
    assert fake is not None
    out = tmp_path / "events"
    result = run_cli(
        "experiments", "events", "no-such", "--base-url", fake.url,
        "--format", "parquet", "--output", str(out), env=fake_env(fake),
    )  # fmt: skip
    assert_clean_failure(result, 1)
    assert "HTTP 404" in result.stderr
    assert "--resume" not in result.stderr and "written" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("given", "read_ahead"), [([], 1), (["--prefetch", "0"], 0), (["--prefetch", "3"], 3)]
)
def test_parquet_exports_read_one_page_ahead_unless_prefetch_says_otherwise(
    given: list[str], read_ahead: int
) -> None:
    from ddllmobs_async.cli import build_parser
    from ddllmobs_async.cli.experiments import export_prefetch

    args = build_parser().parse_args(["experiments", "list", "--format", "parquet", *given])
    assert export_prefetch(args.prefetch) == read_ahead
    plain = build_parser().parse_args(["experiments", "list", *given])
    assert (plain.prefetch or 0) == (0 if not given else read_ahead)


def test_refused_directories_say_what_to_do_on_the_command_line(
    served: ThreadedFake, tmp_path: Path
) -> None:
    fake = served.fake
    assert fake is not None
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    crowded = list_cli(fake, "--format", "parquet", "--output", str(notes))
    assert_clean_failure(crowded, 2)
    assert crowded.stderr.splitlines() == [
        f"ddllmobs: error: --output {notes} is not empty and holds no export checkpoint "
        "(_ddllmobs_export.json): choose a new or empty --output directory"
    ]
    assert (notes / "todo.txt").read_text() == "mine"

    out = tmp_path / "runs"
    assert list_cli(fake, "--format", "parquet", "--output", str(out)).returncode == 0
    other = list_cli(fake, "--format", "parquet", "--output", str(out), "--resume", "--name", "x")
    assert_clean_failure(other, 2)
    (line,) = other.stderr.splitlines()
    assert line.startswith(f"ddllmobs: error: --output {out} holds an export of other arguments")
    assert line.endswith(
        ": rerun with the options it was started with and --resume to continue it, "
        "or choose another --output directory"
    )
    assert "overwrite" not in line


def test_an_output_directory_that_cannot_be_made_is_a_usage_error(
    served: ThreadedFake, tmp_path: Path
) -> None:
    fake = served.fake
    assert fake is not None
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    for output in (a_file / "runs", Path("/proc/no-such-dir")):
        listed = list_cli(fake, "--format", "parquet", "--output", str(output))
        assert_clean_failure(listed, 2)
        (line,) = listed.stderr.splitlines()
        assert line.startswith(f"ddllmobs: error: cannot write --output {output}: ")
        experiment = fake.experiments[0]["id"]
        events = run_cli(
            "experiments", "events", experiment, "--base-url", fake.url,
            "--format", "parquet", "--output", str(output), env=fake_env(fake),
        )  # fmt: skip
        assert_clean_failure(events, 2)
        assert events.stderr.splitlines() == [line]
    assert a_file.read_text() == "mine"
