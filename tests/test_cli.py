"""The ``ddllmobs`` command line, run as ``python -m ddllmobs_async`` against the fake."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

import ddllmobs_async as dd
from ddllmobs_async import cli
from ddllmobs_async.cli import _args as _cli_args
from ddllmobs_async.cli import _output as _cli_output
from ddllmobs_async.cli.experiments import stream_experiments
from ddllmobs_async.testing import FakeLLMObs, Fault
from ddllmobs_async.testing._data import total_for_live
from tests.conftest import ClientFactory

TIMEOUT = 20.0
ISO_NOW = datetime(2026, 7, 20, 12, 0, tzinfo=timezone.utc)


# --- helpers -------------------------------------------------------------------------------


class ThreadedFake:
    """A ``FakeLLMObs`` served by an event loop in a background thread.

    The CLI runs in a subprocess, so the fake must keep serving while the test blocks on
    it; the test can still inject faults and read what the fake recorded.
    """

    def __init__(self, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.options = options
        self.fake: FakeLLMObs | None = None

    def __enter__(self) -> FakeLLMObs:
        self.thread.start()

        async def start() -> FakeLLMObs:
            fake = FakeLLMObs.seeded(**self.options)
            await fake.start()
            return fake

        self.fake = asyncio.run_coroutine_threadsafe(start(), self.loop).result(TIMEOUT)
        return self.fake

    def __exit__(self, *exc_info: object) -> None:
        if self.fake is not None:
            asyncio.run_coroutine_threadsafe(self.fake.close(), self.loop).result(TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()

    def inject(self, *faults: Fault, endpoint: Any = None) -> None:
        assert self.fake is not None
        fake = self.fake

        async def inject() -> None:
            fake.inject(*faults, endpoint=endpoint)

        asyncio.run_coroutine_threadsafe(inject(), self.loop).result(TIMEOUT)


@pytest.fixture
def served() -> Iterator[ThreadedFake]:
    server = ThreadedFake(n_experiments=30, seed=7)
    with server:
        yield server


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any Datadog setting of the machine running the tests."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DDLLMOBS_", "PYTHONWARN"))
    }
    env.update(extra)
    return env


def fake_env(fake: FakeLLMObs) -> dict[str, str]:
    return clean_env(DD_API_KEY=fake.api_key, DD_APP_KEY=fake.app_key)


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ddllmobs_async", *args],
        env=dict(env) if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def list_cli(fake: FakeLLMObs, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "experiments",
        "list",
        "--base-url",
        fake.url,
        "--project-id",
        fake.project_id,
        *args,
        env=fake_env(fake),
    )


def visible(fake: FakeLLMObs) -> list[dict[str, Any]]:
    """The experiments a default listing returns (not soft-deleted), newest first."""
    return [e for e in fake.experiments if e["attributes"]["deleted_at"] is None]


def table_ids(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "EXPERIMENT", "STATUS", "CREATED"]
    return [line.split()[0] for line in lines[1:]]


def average(values: Sequence[Any]) -> float | None:
    numbers = [v for v in values if v is not None]
    return sum(numbers) / len(numbers) if numbers else None


def averages_by(events: Sequence[Mapping[str, Any]], field: str) -> dict[str, float | None]:
    groups: dict[str, list[Any]] = {}
    for event in events:
        groups.setdefault(str(event[field]), []).append(event["score_value"])
    return {key: average(values) for key, values in groups.items()}


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr


# --- experiments list ----------------------------------------------------------------------


def test_list_streams_every_page_as_a_table(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    result = list_cli(fake, "--page-size", "7")
    assert result.returncode == 0, result.stderr
    assert table_ids(result.stdout) == [e["id"] for e in visible(fake)]
    assert result.stderr == ""  # no progress line: stderr is not a terminal
    pages = fake.requests_to("experiments")
    assert len(pages) == -(-len(visible(fake)) // 7)
    assert all(r.param("page[limit]") == "7" for r in pages)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_list_machine_formats_carry_every_field(served: ThreadedFake, fmt: str) -> None:
    fake = served.fake
    assert fake is not None
    result = list_cli(fake, "--format", fmt, "--page-size", "10")
    assert result.returncode == 0, result.stderr
    if fmt == "json":
        records = json.loads(result.stdout)
    elif fmt == "jsonl":
        records = [json.loads(line) for line in result.stdout.splitlines()]
    else:
        records = list(csv.DictReader(io.StringIO(result.stdout)))
    expected = visible(fake)
    assert [r["id"] for r in records] == [e["id"] for e in expected]
    assert [r["name"] for r in records] == [e["attributes"]["name"] for e in expected]
    first, wire = records[0], expected[0]["attributes"]
    assert first["created_at"].startswith(wire["created_at"][:19])
    assert first["created_at"].endswith("Z")
    metadata = first["metadata"] if fmt != "csv" else json.loads(first["metadata"])
    assert metadata == wire["metadata"]


def test_list_json_is_valid_when_empty(served: ThreadedFake) -> None:
    assert served.fake is not None
    result = list_cli(served.fake, "--format", "json", "--id", "no-such-id")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_list_sends_every_filter(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    result = list_cli(
        fake,
        "--id",
        "a",
        "--id",
        "b",
        "--parent-id",
        "p1",
        "--parent-id",
        "p2",
        "--metadata",
        "branch=main",
        "--metadata",
        "attempt:=3",
        "--name",
        "run-1",
        "--experiment",
        "summarizer",
        "--deleted",
        "--include-user-data",
        "--include-dataset-names",
        "--dataset-id",
        "ds",
        "--format",
        "jsonl",
    )
    assert result.returncode == 0, result.stderr
    (request,) = fake.requests_to("experiments")
    assert request.params("filter[id]") == ["a", "b"]
    assert request.params("filter[parent_experiment_id]") == ["p1", "p2"]
    assert json.loads(request.param("filter[metadata]") or "") == {"branch": "main", "attempt": 3}
    assert request.param("filter[name]") == "run-1"
    assert request.param("filter[experiment]") == "summarizer"
    assert request.param("filter[is_deleted]") == "true"
    assert request.param("include[user_data]") == "true"
    assert request.param("include[dataset_names]") == "true"
    assert request.param("filter[dataset_id]") == "ds"
    assert request.param("filter[project_id]") == fake.project_id


def test_list_limit_and_project_from_the_environment(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    env = fake_env(fake) | {"DDLLMOBS_BASE_URL": fake.url, "DD_LLMOBS_PROJECT_ID": fake.project_id}
    result = run_cli("experiments", "list", "--limit", "4", "--format", "jsonl", env=env)
    assert result.returncode == 0, result.stderr
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids == [e["id"] for e in visible(fake)[:4]]


@pytest.mark.parametrize("prefetch", [[], ["--prefetch", "2"]])
def test_list_failure_mid_stream_prints_the_cursor_and_resumes(
    served: ThreadedFake, prefetch: list[str]
) -> None:
    fake = served.fake
    assert fake is not None
    errors = [{"title": "Bad Request", "detail": "Datadog says the cursor is stale."}]
    served.inject(Fault.delay(0), Fault.delay(0), Fault.status(400, errors), endpoint="experiments")
    failed = list_cli(fake, "--page-size", "5", *prefetch)
    assert_clean_failure(failed, 1)
    printed = table_ids(failed.stdout)
    assert printed == [e["id"] for e in visible(fake)[:10]]
    assert "HTTP 400" in failed.stderr
    assert "Datadog says the cursor is stale." in failed.stderr
    cursor = failed.stderr.split("--cursor '")[1].split("'")[0]
    assert cursor == fake.requests_to("experiments")[-1].param("page[cursor]")

    resumed = list_cli(fake, "--page-size", "5", "--cursor", cursor)
    assert resumed.returncode == 0, resumed.stderr
    assert printed + table_ids(resumed.stdout) == [e["id"] for e in visible(fake)]


def test_api_errors_exit_1_with_datadogs_details_and_no_keys(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    secret = "wrong-app-key-that-must-not-leak-0123456789"
    env = clean_env(DD_API_KEY=fake.api_key, DD_APP_KEY=secret)
    result = run_cli("experiments", "list", "--base-url", fake.url, "--project-id", "p", env=env)
    assert_clean_failure(result, 1)
    assert "HTTP 401" in result.stderr
    assert "DD-APPLICATION-KEY" in result.stderr
    assert "DD_APP_KEY" in result.stderr  # the hint
    for key in (secret, fake.api_key):
        assert key not in result.stderr
        assert key not in result.stdout


def test_connection_failure_exits_1(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    served.inject(Fault.reset(), Fault.reset())
    result = list_cli(fake, "--max-retries", "1")
    assert_clean_failure(result, 1)
    assert "ddllmobs: error:" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["experiments", "list", "--base-url", "http://127.0.0.1:9"], "--project-id"),
        (["experiments", "list", "--project-id", "p", "--format", "xml"], "invalid choice"),
        (["experiments", "list", "--project-id", "p", "--limit", "-1"], "--limit"),
        (["experiments", "list", "--project-id", "p", "--prefetch", "-1"], "--prefetch"),
        (["experiments", "list", "--project-id", "p", "--metadata", "nokey"], "key=value"),
        (["experiments", "list", "--project-id", "p", "--site", "nope.example"], "valid sites"),
        (["experiments", "list", "--project-id", "p", "--base-url", "http://example.com"], "https"),
        (["aggregate", "--group-by", "label"], "--metric"),
        (["aggregate", "--metric", "score_value", "--from", "2026-07-01T00:00:00"], "timezone"),
        (["aggregate", "--metric", "score_value", "--to", "now"], "--to needs --from"),
        (["aggregate", "--metric", "score_value", "--from", "1h", "--to", "2h"], "after"),
        (["aggregate", "--metric", "score_value:", "--query", "*"], "METRIC=NAME"),
        (["aggregate", "--metric", "score_value=", "--query", "*"], "METRIC=NAME"),
        (["fake-server", "--rate-limit", "ten/60"], "LIMIT/PERIOD"),
        (["experiments"], "required"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    env = clean_env(DD_API_KEY="k", DD_APP_KEY="a")
    result = run_cli(*args, env=env)
    assert_clean_failure(result, 2)
    assert message in result.stderr


def test_missing_keys_exit_2_naming_the_variables() -> None:
    result = run_cli("experiments", "list", "--project-id", "p", env=clean_env())
    assert_clean_failure(result, 2)
    assert "DD_API_KEY" in result.stderr
    assert "DD_APP_KEY" in result.stderr
    only_api = run_cli("aggregate", "--metric", "score_value", env=clean_env(DD_API_KEY="k"))
    assert_clean_failure(only_api, 2)
    assert "DD_APP_KEY" in only_api.stderr
    assert "DD_API_KEY" not in only_api.stderr


def test_ctrl_c_exits_130_quietly(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    served.inject(Fault.delay(15))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ddllmobs_async",
            "experiments",
            "list",
            "--base-url",
            fake.url,
            "--project-id",
            fake.project_id,
            "--format",
            "json",
        ],
        env=fake_env(fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + TIMEOUT
    while not fake.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 130
    assert stderr == ""
    assert json.loads(stdout) == []  # the JSON array is closed on the way out


def test_ctrl_c_mid_listing_prints_the_resume_cursor(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    served.inject(Fault.delay(0), Fault.delay(15), endpoint="experiments")  # page 2 hangs
    process = subprocess.Popen(
        [sys.executable, "-m", "ddllmobs_async", "experiments", "list", "--page-size", "5"],
        env=fake_env(fake)
        | {"DD_LLMOBS_BASE_URL": fake.url, "DD_LLMOBS_PROJECT_ID": fake.project_id},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + TIMEOUT
    while len(fake.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 130
    assert len(table_ids(stdout)) == 5
    assert "interrupted after 5 experiments; to resume, rerun with --cursor '" in stderr
    cursor = stderr.split("--cursor '")[1].split("'")[0]
    assert cursor == fake.requests[1].param("page[cursor]")


def test_a_refused_cursor_is_not_suggested_again(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    result = list_cli(fake, "--cursor", "garbage")
    assert_clean_failure(result, 1)
    assert "HTTP 400" in result.stderr
    assert "rerun with --cursor" not in result.stderr
    assert "rerun without it" in result.stderr


def test_page_size_beyond_the_api_is_refused_before_any_output(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    result = list_cli(fake, "--page-size", "6000")
    assert_clean_failure(result, 2)
    assert result.stdout == ""
    assert "1..5000" in result.stderr
    assert fake.requests == []


def test_argparse_errors_are_one_line_and_a_hint() -> None:
    result = run_cli("experiments", "list", "--limit", "many", env=clean_env())
    assert_clean_failure(result, 2)
    assert result.stderr.splitlines() == [
        "ddllmobs experiments list: error: argument --limit: invalid value 'many': "
        "expected an integer >= 0",
        "hint: `ddllmobs experiments list --help` lists the options",
    ]


def test_base_url_and_site_together_is_a_usage_error_naming_both() -> None:
    result = run_cli(
        "experiments",
        "list",
        "--project-id",
        "p",
        "--site",
        "datadoghq.eu",
        "--base-url",
        "http://127.0.0.1:9",
        env=clean_env(DD_API_KEY="k", DD_APP_KEY="a"),
    )
    assert_clean_failure(result, 2)
    assert "--base-url and --site" in result.stderr


def test_site_flag_beats_the_base_url_variable(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    env = fake_env(fake) | {"DD_LLMOBS_BASE_URL": fake.url}
    result = run_cli("experiments", "list", "--project-id", "p", "--site", "nope.example", env=env)
    assert_clean_failure(result, 2)  # the flag was used, not silently ignored
    assert "valid sites" in result.stderr
    assert fake.requests == []


def test_base_url_variable_beats_dd_site_and_legacy_name_works(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    for name in ("DD_LLMOBS_BASE_URL", "DDLLMOBS_BASE_URL"):
        env = fake_env(fake) | {name: fake.url, "DD_SITE": "datadoghq.eu"}
        result = run_cli("experiments", "list", "--project-id", fake.project_id, env=env)
        assert result.returncode == 0, result.stderr
        assert table_ids(result.stdout) == [e["id"] for e in visible(fake)]


def test_wrong_api_key_error_says_forbidden_once(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    env = clean_env(DD_API_KEY="wrong", DD_APP_KEY=fake.app_key)
    result = run_cli("experiments", "list", "--base-url", fake.url, "--project-id", "p", env=env)
    assert_clean_failure(result, 1)
    assert "HTTP 403" in result.stderr
    assert "Forbidden: Forbidden" not in result.stderr
    assert result.stderr.count("Forbidden") == 1


# --- aggregate -----------------------------------------------------------------------------


def aggregate_cli(fake: FakeLLMObs, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("aggregate", "--base-url", fake.url, *args, env=fake_env(fake))


def test_aggregate_table_matches_hand_computed_averages(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    result = aggregate_cli(fake, "--metric", "score_value:avg", "--group-by", "label")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["LABEL", "AVG"]
    expected = averages_by(fake.eval_events, "label")
    assert {line.split()[0]: line.split()[1] for line in lines[1:]} == {
        label: f"{value:.4f}" for label, value in expected.items() if value is not None
    }
    events = len(fake.eval_events)
    assert f"{len(expected)} buckets, {events} events matched" in result.stderr
    assert "1 buckets" not in result.stderr


def test_aggregate_json_with_every_option(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    target = visible(fake)[2]
    stamps = sorted(e["timestamp"] for e in fake.eval_events if e["experiment_id"] == target["id"])
    second = datetime.fromtimestamp((stamps[1] - 500) / 1000, timezone.utc)
    start = second.isoformat()  # skips its first event
    end = (second + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    version = target["attributes"]["dataset_version"]
    result = aggregate_cli(
        fake,
        "--metric",
        "score_value:avg_score",
        "--metric",
        "count",
        "--query",
        f"@experiment_id:{target['id']}",
        "--group-by",
        "experiment_id",
        "--from",
        start,
        "--to",
        end,
        "--dataset-version",
        str(version),
        "--limit",
        "5",
        "--index",
        "experiment-evals",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    events = [
        e
        for e in fake.eval_events
        if e["experiment_id"] == target["id"]
        and e["timestamp"] >= datetime.fromisoformat(start).timestamp() * 1000
    ]
    assert len(events) == 3
    assert document["hit_count"] == 3
    (bucket,) = document["buckets"]
    assert bucket["by"] == {"experiment_id": target["id"]}
    assert bucket["metrics"]["count"] == 3
    assert bucket["metrics"]["avg_score"] == pytest.approx(
        average([e["score_value"] for e in events])
    )
    (request,) = fake.requests_to("analytics")
    aggregate = request.json["data"]["attributes"]["aggregate"]
    assert aggregate["time"]["from"] == stamps[1] - 500
    assert aggregate["dataset_version"] == version
    assert aggregate["limit"] == 5
    assert aggregate["compute"] == [
        {"metric": "score_value", "name": "avg_score"},
        {"metric": "count"},
    ]


def test_metric_names_its_result_and_a_label_query_picks_one_eval(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    result = aggregate_cli(
        fake,
        "--metric",
        "score_value=avg_faithfulness",
        "--query",
        "@label:faithfulness",
        "--group-by",
        "experiment_id",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["EXPERIMENT_ID", "AVG_FAITHFULNESS"]
    faithfulness = [e for e in fake.eval_events if e["label"] == "faithfulness"]
    expected = averages_by(faithfulness, "experiment_id")
    shown = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert shown == {k: "-" if v is None else f"{v:.4f}" for k, v in expected.items()}
    old_spelling = aggregate_cli(
        fake,
        "--metric",
        "score_value:avg_faithfulness",
        "--query",
        "@label:faithfulness",
        "--group-by",
        "experiment_id",
    )
    assert old_spelling.stdout == result.stdout


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_aggregate_reads_buckets_keyed_by_metric_name(fmt: str) -> None:
    with ThreadedFake(n_experiments=5, seed=2, metric_keys="metric") as fake:
        result = aggregate_cli(fake, "--metric", "score_value=avg_score", "--format", fmt)
        ambiguous = aggregate_cli(
            fake, "--metric", "score_value=a", "--metric", "score_value=b", "--format", fmt
        )
    assert result.returncode == 0, result.stderr
    expected = average([e["score_value"] for e in fake.eval_events])
    assert expected is not None
    if fmt == "json":
        (bucket,) = json.loads(result.stdout)["buckets"]
        assert bucket["metrics"] == {"avg_score": pytest.approx(expected)}
    else:
        assert result.stdout.splitlines() == ["AVG_SCORE", f"{expected:.4f}"]
    assert_clean_failure(ambiguous, 1)
    assert "ambiguous" in ambiguous.stderr


def test_aggregate_counts_use_the_right_plural(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    one = visible(fake)[0]["id"]
    result = aggregate_cli(
        fake, "--metric", "count", "--query", f"@experiment_id:{one} @label:relevance"
    )
    assert result.returncode == 0, result.stderr
    assert "1 bucket, 2 events matched" in result.stderr


def test_aggregate_api_error_exits_1_with_the_pointer(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    result = aggregate_cli(fake, "--metric", "score_value", "--index", "nope")
    assert_clean_failure(result, 1)
    assert "Unknown index 'nope'" in result.stderr
    assert "/data/attributes/aggregate/indexes/0" in result.stderr


# --- fake-server and demo ------------------------------------------------------------------


def start_fake_server(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ddllmobs_async", "fake-server", "--port", "0", *args],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_exports(process: subprocess.Popen[str]) -> dict[str, str]:
    """The ``export NAME=value`` lines the fake server prints once it listens."""
    assert process.stdout is not None
    lines = [process.stdout.readline().strip() for _ in range(4)]
    assert all(line.startswith("export ") for line in lines), lines
    return dict(line.removeprefix("export ").split("=", 1) for line in lines)


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    _, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    return stderr


def test_fake_server_serves_the_other_commands_until_sigterm() -> None:
    process = start_fake_server("--experiments", "12", "--seed", "3", "--rate-limit", "1000/60")
    try:
        settings = read_exports(process)
        assert set(settings) == {
            "DD_LLMOBS_BASE_URL",
            "DD_LLMOBS_PROJECT_ID",
            "DD_API_KEY",
            "DD_APP_KEY",
        }
        base_url = settings["DD_LLMOBS_BASE_URL"]
        assert base_url.startswith("http://127.0.0.1:")
        env = clean_env(**settings)  # no --base-url: the printed variable is enough

        listed = run_cli("experiments", "list", "--format", "jsonl", env=env)
        assert listed.returncode == 0, listed.stderr
        records = [json.loads(line) for line in listed.stdout.splitlines()]
        assert len(records) == 12  # --experiments counts the listed ones
        assert {r["project_id"] for r in records} == {settings["DD_LLMOBS_PROJECT_ID"]}

        summed = run_cli("aggregate", "--metric", "count", "--query", "*", env=env)
        assert summed.returncode == 0, summed.stderr
        assert summed.stdout.splitlines() == ["COUNT", str(total_for_live(12) * 4)]
    finally:
        stderr = stop(process)
    assert "Stopped after 2 requests." in stderr


@pytest.mark.parametrize(("end", "tail"), [("empty", '"after":""'), ("no-meta", None)])
def test_fake_server_serves_the_chosen_end_of_pages_and_summary_placement(
    end: str, tail: str | None
) -> None:
    process = start_fake_server(
        "--experiments", "3", "--events-end", end, "--summary-pages", "first"
    )
    try:
        settings = read_exports(process)
        env = clean_env(**settings)
        listed = run_cli("experiments", "list", "--format", "jsonl", "--limit", "1", env=env)
        experiment = json.loads(listed.stdout)["id"]
        url = f"{settings['DD_LLMOBS_BASE_URL']}/api/v2/llm-obs/v3/experiments/{experiment}/events"
        headers = {
            "DD-API-KEY": settings["DD_API_KEY"],
            "DD-APPLICATION-KEY": settings["DD_APP_KEY"],
        }
        bodies, cursor = [], None
        while True:
            query = {"page[limit]": "2"} | ({"page[cursor]": cursor} if cursor else {})
            request = urllib.request.Request(f"{url}?{urlencode(query)}", headers=headers)
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                bodies.append(json.loads(answer.read()))
            cursor = (bodies[-1].get("meta") or {}).get("after")
            if not cursor:
                break
    finally:
        stop(process)
    assert len(bodies) > 1
    last = bodies[-1]
    assert ("meta" not in last) if tail is None else (last["meta"] == {"after": ""})
    summaries = [b["data"]["attributes"]["summary_metrics"] for b in bodies]
    assert summaries[0] and not any(summaries[1:])


def test_fake_server_announces_the_listed_experiments_apart_from_deleted_ones() -> None:
    process = start_fake_server("--experiments", "500")
    try:
        read_exports(process)
        assert process.stderr is not None
        announcement = process.stderr.readline()
    finally:
        stop(process)
    deleted = total_for_live(500) - 500
    assert f": 500 experiments listed (+ {deleted} soft-deleted)" in announcement


def test_fake_server_data_leads_up_to_now_unless_pinned() -> None:
    pinned = "2030-01-02T03:04:05Z"
    runs = []
    for args in (("--now", pinned), ("--now", pinned), ()):
        process = start_fake_server("--experiments", "5", *args)
        try:
            env = clean_env(**read_exports(process))
            listed = run_cli("experiments", "list", "--format", "jsonl", env=env)
            recent = run_cli("aggregate", "--metric", "count", "--from", "24h", env=env)
        finally:
            stop(process)
        assert listed.returncode == recent.returncode == 0, listed.stderr + recent.stderr
        runs.append(
            ([json.loads(line)["created_at"] for line in listed.stdout.splitlines()], recent)
        )
    assert runs[0][0] == runs[1][0]  # reproducible with --now
    assert runs[0][0][0].startswith("2030-01-02T02:59:05")
    assert runs[0][1].stdout.splitlines() == ["COUNT", "0"]  # 2030 is not in the last 24 hours
    newest = datetime.fromisoformat(runs[2][0][0])
    assert timedelta(0) < datetime.now(timezone.utc) - newest < timedelta(hours=1)
    assert int(runs[2][1].stdout.splitlines()[1]) > 0  # --from 24h finds the fresh data


def test_fake_server_env_file_sourced_in_one_shell(tmp_path: Path) -> None:
    script = """
        echo 'SECRET=mine' > .env  # the user's own file, never touched
        ddllmobs fake-server --experiments 3 --env-file .ddllmobs-fake.env >/dev/null 2>&1 &
        server=$!
        while [ ! -f .ddllmobs-fake.env ]; do sleep 0.1; done
        . ./.ddllmobs-fake.env
        ddllmobs experiments list --format jsonl
        status=$?
        kill $server
        wait $server
        [ ! -e .ddllmobs-fake.env ] || exit 9  # the server removed its file
        [ "$(cat .env)" = SECRET=mine ] || exit 8
        exit $status
    """
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=clean_env(PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3


def test_demo_needs_no_keys_and_prints_both_results() -> None:
    started = time.monotonic()
    result = run_cli("demo", env=clean_env())
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 5
    fake = FakeLLMObs.seeded(n_experiments=total_for_live(25))
    expected = visible(fake)
    out = result.stdout
    assert all(e["id"] in out and e["attributes"]["name"] in out for e in expected)
    scores = averages_by(fake.eval_events, "experiment_id")
    table = out.split("Average eval score per experiment")[1].splitlines()[2:]
    shown = {line.split()[0]: line.split()[-1] for line in table}
    assert shown == {
        e["id"]: "-" if scores[e["id"]] is None else f"{scores[e['id']]:.4f}" for e in expected
    }
    assert "fake Datadog" in result.stderr


def test_demo_with_keys_but_no_project_still_runs_on_the_fake() -> None:
    env = clean_env(DD_API_KEY="real-looking-api-key", DD_APP_KEY="real-looking-app-key")
    result = run_cli("demo", env=env)
    assert result.returncode == 0, result.stderr
    assert "fake Datadog" in result.stderr and "--project-id" in result.stderr
    assert "real-looking" not in result.stderr + result.stdout
    assert all(
        e["id"] in result.stdout
        for e in visible(FakeLLMObs.seeded(n_experiments=total_for_live(25)))
    )
    forced = run_cli(
        "demo", "--fake", "--experiments", "3", env=env | {"DD_LLMOBS_PROJECT_ID": "p"}
    )
    assert forced.returncode == 0, forced.stderr


def test_demo_without_eval_events_prints_no_counts_over_an_empty_table() -> None:
    result = run_cli("demo", "--experiments", "0", env=clean_env())
    assert result.returncode == 0, result.stderr
    assert "0 experiments in 1 page." in result.stdout
    assert "Average eval score" not in result.stdout
    assert "No eval events to average" in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ("experiments", "list", "--project-id", "p", "--page-size", "6000"),
        ("aggregate", "--metric", "score_value", "--index", "", "--query", "*"),
        ("aggregate", "--metric", "score_value", "--limit", "99999999999"),
    ],
)
def test_invalid_values_are_usage_errors_without_traceback(
    served: ThreadedFake, argv: tuple[str, ...]
) -> None:
    fake = served.fake
    assert fake is not None
    result = run_cli(*argv, "--base-url", fake.url, env=fake_env(fake))
    assert_clean_failure(result, 2)


def test_demo_with_keys_talks_to_the_configured_api(served: ThreadedFake) -> None:
    fake = served.fake
    assert fake is not None
    env = fake_env(fake) | {"DD_LLMOBS_PROJECT_ID": fake.project_id}
    result = run_cli("demo", "--base-url", fake.url, env=env)
    assert result.returncode == 0, result.stderr
    assert all(e["id"] in result.stdout for e in visible(fake))
    assert len(fake.requests_to("experiments")) == 3  # 22 experiments, 10 per page
    assert len(fake.requests_to("analytics")) == 1


# --- in-process pieces ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", ISO_NOW),
        ("90s", ISO_NOW - timedelta(seconds=90)),
        ("30m", ISO_NOW - timedelta(minutes=30)),
        ("1h", ISO_NOW - timedelta(hours=1)),
        ("2d", ISO_NOW - timedelta(days=2)),
        ("1w", ISO_NOW - timedelta(weeks=1)),
        ("2026-07-01T00:00:00Z", datetime(2026, 7, 1, tzinfo=timezone.utc)),
        ("2026-07-01T02:00:00+02:00", datetime(2026, 7, 1, tzinfo=timezone.utc)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert _cli_args.parse_time(text, now=ISO_NOW) == expected


@pytest.mark.parametrize("text", ["2026-07-01T00:00:00", "yesterday", "1y", "-1h", ""])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(Exception, match=r"timezone|invalid time"):
        _cli_args.parse_time(text, now=ISO_NOW)


def test_parse_helpers() -> None:
    assert _cli_args.parse_metric("score_value=avg") == dd.Compute("score_value", name="avg")
    assert _cli_args.parse_metric("score_value:avg") == dd.Compute("score_value", name="avg")
    assert _cli_args.parse_metric("count") == dd.Compute("count")
    assert _cli_args.parse_metadata("a=b=c") == ("a", "b=c")
    assert _cli_args.parse_metadata("n:=1.5") == ("n", 1.5)
    assert _cli_args.parse_metadata("url=http://x:=y") == ("url", "http://x:=y")
    assert _cli_args.parse_rate_limit("100/60") == (100, 60.0)
    assert _cli_args.parse_rate_limit("5/0.5") == (5, 0.5)


def test_version_and_help_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert dd.__version__ in capsys.readouterr().out
    for command in (["--help"], ["experiments", "list", "--help"], ["aggregate", "--help"]):
        assert cli.main(command) == 0
        assert "--base-url" in capsys.readouterr().out or command == ["--help"]


class TerminalIO(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_progress_line_only_on_a_terminal(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake)
    out, terminal, pipe = io.StringIO(), TerminalIO(), io.StringIO()
    pages = client.list_experiment_pages(project_id=fake.project_id, page_size=20)
    status = await stream_experiments(pages, _cli_output.TableWriter(out), stderr=terminal)
    assert status == 0
    progress = terminal.getvalue()
    assert "\r\x1b[K1 page, 20 experiments" in progress
    assert f"{-(-len(visible(fake)) // 20)} pages, {len(visible(fake))} experiments" in progress
    assert progress.endswith("\r\x1b[K")  # erased at the end
    assert "\x1b" not in out.getvalue()

    pages = client.list_experiment_pages(project_id=fake.project_id, page_size=20)
    await stream_experiments(pages, _cli_output.JsonlWriter(io.StringIO()), stderr=pipe)
    assert pipe.getvalue() == ""
