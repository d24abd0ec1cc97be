"""A newcomer's first hour, as the docs tell it: ``ddllmobs fake-server``, then the quickstart.

The fake server runs as its own process (the installed ``ddllmobs`` command), its printed
lines are used exactly as the docs say (pasted into a second shell, or written with
``--env-file`` and sourced in the same shell), and the docs' programs run unchanged with
``python``, as a reader would run them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ddllmobs_async.testing import FakeLLMObs
from ddllmobs_async.testing._data import total_for_live
from tests.test_docs import PAGES, ROOT, Block, code_blocks

TIMEOUT = 60
BIN = Path(sys.executable).parent


def reader_shell_env() -> dict[str, str]:
    """A shell with the package installed and no Datadog settings of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DDLLMOBS_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `python` and `ddllmobs`
    return env


def program(title: str) -> Block:
    (found,) = [b for page in PAGES for b in code_blocks(page) if b.title == title]
    return found


def one_shell_blocks() -> list[Block]:
    return [
        b
        for page in PAGES
        for b in code_blocks(page)
        if b.lang == "bash" and "--env-file .ddllmobs-fake.env &" in b.source
    ]


def seeded_names() -> list[str]:
    """Names of the experiments ``ddllmobs fake-server`` lists (25, newest first)."""
    fake = FakeLLMObs.seeded(n_experiments=total_for_live(25))
    return [e["attributes"]["name"] for e in fake.experiments if not e["attributes"]["deleted_at"]]


def assert_quickstart_output(stdout: str) -> None:
    lines = stdout.splitlines()
    assert [line.split()[-1] for line in lines[:10]] == seeded_names()[:10]
    labels = [line.split(":")[0] for line in lines[10:]]
    assert labels == ["faithfulness", "relevance"]
    assert all(re.fullmatch(r"\w+: (0\.\d+|1\.0|None)", line) for line in lines[10:])


def run_in_shell(
    script: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=env or reader_shell_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_two_terminals_paste_the_printed_lines_and_run_the_quickstart(tmp_path: Path) -> None:
    (tmp_path / "quickstart.py").write_text(program("quickstart.py").source)
    server = subprocess.Popen(
        ["ddllmobs", "fake-server"],
        env=reader_shell_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        printed = [server.stdout.readline() for _ in range(4)]  # terminal 1
        assert all(line.startswith("export ") for line in printed)
        second_terminal = "".join(printed) + "python quickstart.py\n"  # pasted, then run
        result = run_in_shell(second_terminal, tmp_path)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + stderr
    assert_quickstart_output(result.stdout)


@pytest.mark.parametrize("block", one_shell_blocks(), ids=lambda b: f"{b.page}:{b.line}")
def test_one_shell_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    for name in re.findall(r"^python (\w+\.py)", block.source, re.M):
        (tmp_path / name).write_text(program(name).source)
    users = "export DD_LLMOBS_BASE_URL=http://users.invalid\n"
    (tmp_path / ".env").write_text(users)  # the reader's own .env, never touched
    (tmp_path / ".ddllmobs-fake.env").write_text("export DD_LLMOBS_BASE_URL=http://stale.invalid\n")
    result = run_in_shell(f"set -e\n{block.source}wait\n", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".ddllmobs-fake.env").exists()  # the server removed its file
    assert (tmp_path / ".env").read_text() == users
    exports = [line for line in result.stdout.splitlines() if line.startswith("export ")]
    assert len(exports) == 4  # the server in the background prints them too
    stdout = "".join(f"{line}\n" for line in result.stdout.splitlines() if line not in exports)
    if "python quickstart.py" in block.source:
        assert_quickstart_output(stdout)
    elif "python readme.py" in block.source:
        lines = stdout.splitlines()
        assert re.fullmatch(r"[0-9a-f-]{36}", lines[0].split()[0])  # an experiment id
        assert any(re.fullmatch(r"[0-9a-f]{16} (0\.\d+|1\.0|None)", line) for line in lines)
    else:
        assert len(stdout.splitlines()) == 4  # `experiments list --limit 3`: header + 3


def test_every_page_with_the_fake_server_shows_the_one_shell_way() -> None:
    pages = {b.page for b in one_shell_blocks()}
    assert {"README.md", "docs/index.md", "docs/cli.md"} <= pages
    assert ROOT.joinpath("docs/index.md").read_text().count("**Two terminals:**") == 1
