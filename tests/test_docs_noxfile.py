"""The task runner the README and CI name: ``nox`` recent enough, missing interpreters skipped.

``.ci/run`` installs one minimum nox (the first to read pyproject's dependency groups) and
runs ``nox -s tests`` on a machine with Python 3.11 only: the noxfile must refuse an older
nox with a clear message (``nox.needs_version``), and the 3.12 and 3.13 sessions must skip,
not fail, even under ``CI`` (where nox errors on a missing interpreter by default).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOXFILE = ROOT / "noxfile.py"


def noxfile_settings() -> dict[str, object]:
    """The literal values the noxfile assigns to ``nox.<name>`` / ``nox.options.<name>``."""
    settings: dict[str, object] = {}
    for node in ast.parse(NOXFILE.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                settings[ast.unparse(target)] = node.value.value
    return settings


def test_needs_version_is_the_minimum_ci_installs() -> None:
    needed = noxfile_settings().get("nox.needs_version")
    assert isinstance(needed, str), "noxfile.py sets no nox.needs_version string"
    minimum = needed.removeprefix(">=")
    ci_minimums = set(re.findall(r"nox>=([\d.]+)", (ROOT / ".ci" / "run").read_text()))
    declared = set(re.findall(r'"nox>=([\d.]+)"', (ROOT / "pyproject.toml").read_text()))
    assert ci_minimums == {minimum}, ".ci/run installs another minimum"
    assert declared == {minimum}, "pyproject.toml declares another minimum"


def test_missing_interpreters_skip() -> None:
    assert noxfile_settings().get("nox.options.error_on_missing_interpreters") is False


def test_a_session_for_a_missing_interpreter_skips_under_ci(tmp_path: Path) -> None:
    command = ["-f", str(NOXFILE), "-s", "tests", "--force-python", "3.99"]
    result = subprocess.run(
        [sys.executable, "-m", "nox", *command, "--envdir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "CI": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Session tests-3.99 skipped: Python interpreter 3.99 not found" in result.stderr
