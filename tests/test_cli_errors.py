"""Usage errors of the ``ddllmobs`` commands: one line, exit 2, no traceback, no damage.

Run as a subprocess (``python -m ddllmobs_async``), like a user's shell would.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import (
    TIMEOUT,
    assert_clean_failure,
    clean_env,
    read_exports,
    run_cli,
    start_fake_server,
    stop,
)

# --- fake-server --env-file and --port -----------------------------------------------------


def fake_server(*args: str) -> subprocess.CompletedProcess[str]:
    """``ddllmobs fake-server`` expected to refuse its arguments (a started one would hang)."""
    return subprocess.run(
        [sys.executable, "-m", "ddllmobs_async", "fake-server", *args],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_fake_server_refuses_an_env_file_that_exists(tmp_path: Path) -> None:
    users = tmp_path / ".env"
    users.write_text("SECRET=mine\n")
    result = fake_server("--env-file", str(users))
    assert_clean_failure(result, 2)
    assert result.stderr.splitlines() == [
        f"ddllmobs: error: --env-file {users} already exists: fake-server will not overwrite "
        "a file it did not create; remove it or name a new file"
    ]
    assert result.stdout == ""  # refused before the server started
    assert users.read_text() == "SECRET=mine\n"


def test_fake_server_removes_its_env_file_only_while_it_is_the_one_it_wrote(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "fake.env"
    process = start_fake_server("--env-file", str(env_file))
    try:
        exports = read_exports(process)
        written = env_file.read_text()
        assert f"export DD_LLMOBS_BASE_URL={exports['DD_LLMOBS_BASE_URL']}\n" in written
        replacement = tmp_path / "users.tmp"
        replacement.write_text(written)  # same text, but the user's file now
        replacement.replace(env_file)
    finally:
        stop(process)
    assert env_file.read_text() == written

    process = start_fake_server("--env-file", str(env_file.with_name("second.env")))
    try:
        read_exports(process)
        assert env_file.with_name("second.env").is_file()
    finally:
        stop(process)
    assert not env_file.with_name("second.env").exists()  # its own file is removed


def test_fake_server_env_file_in_a_missing_directory_or_a_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-such" / "x.env"
    result = fake_server("--env-file", str(missing))
    assert_clean_failure(result, 2)
    assert result.stderr.splitlines() == [
        f"ddllmobs: error: --env-file {missing}: no directory {missing.parent}"
    ]
    directory = fake_server("--env-file", str(tmp_path))
    assert_clean_failure(directory, 2)
    assert len(directory.stderr.splitlines()) == 1
    assert f"--env-file {tmp_path} already exists" in directory.stderr
    assert directory.stdout == ""


def test_fake_server_on_a_busy_port_is_a_usage_error(tmp_path: Path) -> None:
    env_file = tmp_path / "fake.env"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = fake_server("--port", str(port), "--env-file", str(env_file))
    assert_clean_failure(result, 2)
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"ddllmobs: error: --port {port}: cannot listen on 127.0.0.1:")
    assert result.stdout == ""
    assert not env_file.exists()


# --- values the library refuses, named as the user typed them ------------------------------

DEAD = ("--base-url", "http://127.0.0.1:9")  # a request would fail with exit 1, not 2
KEYS = {"DD_API_KEY": "k", "DD_APP_KEY": "a"}
LIST = ("experiments", "list", *DEAD)
AGGREGATE = ("aggregate", "--metric", "count", *DEAD)


@pytest.mark.parametrize(
    ("argv", "env", "first_line"),
    [
        (
            (*AGGREGATE, "--limit", "99999999999"),
            {},
            "argument --limit: AggregateQuery.limit must be between 1 and 2147483647",
        ),
        (
            (*AGGREGATE, "--from", "99999d"),
            {},
            "argument --from: TimeRange.start must not be before 1970",
        ),
        (
            (*AGGREGATE, "--from", "999999999d"),
            {},
            "argument --from: invalid time '999999999d': that is before the year 1",
        ),
        (
            (*AGGREGATE, "--dataset-version", "99999999999999999999"),
            {},
            "argument --dataset-version: AggregateQuery.dataset_version must be between 0 and",
        ),
        (
            (*AGGREGATE, "--group-by", ""),
            {},
            "argument --group-by: GroupBy.field must be a non-empty string",
        ),
        (
            (*LIST, "--project-id", ""),
            {},
            "argument --project-id: project_id must be a non-empty string, got ''",
        ),
        ((*LIST, "--project-id", "p", "--id", ""), {}, "argument --id: ids must contain"),
        (
            (*LIST, "--project-id", "p", "--cursor", ""),
            {},
            "argument --cursor: cursor must be a non-empty string",
        ),
        (("projects", "list", *DEAD, "--id", ""), {}, "argument --id: ids must contain"),
        (
            ("experiments", "events", "..", *DEAD),
            {},
            "argument EXPERIMENT_ID: experiment_id must not be '.' or '..'",
        ),
        (
            ("experiments", "list", "--project-id", "p", "--base-url", "ftp://x"),
            {},
            "argument --base-url: base_url must be an http(s) URL, got 'ftp://x'",
        ),
        (
            ("experiments", "list", "--project-id", "p"),
            {"DD_SITE": "bogus"},
            "environment variable DD_SITE: unknown Datadog site 'bogus'; valid sites: ",
        ),
        (
            ("experiments", "list", "--project-id", "p", "--site", "bogus"),
            {"DD_SITE": "datadoghq.eu"},
            "argument --site: unknown Datadog site 'bogus'; valid sites: ",
        ),
        (
            ("experiments", "list", "--project-id", "p", *DEAD),
            {"DD_APP_KEY": "a\tb"},
            "environment variable DD_APP_KEY: app_key contains control characters",
        ),
    ],
)
def test_refused_values_name_the_option_or_variable_then_a_hint(
    argv: tuple[str, ...], env: dict[str, str], first_line: str
) -> None:
    result = run_cli(*argv, env=clean_env(**(KEYS | env)))
    assert_clean_failure(result, 2)
    command = " ".join(("ddllmobs", *argv[:2])) if argv[0] != "aggregate" else "ddllmobs aggregate"
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{command}: error: {first_line}"), lines[0]
    assert lines[1] == f"hint: `{command} --help` lists the options"
    assert result.stdout == ""
