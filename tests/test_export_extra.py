"""Without the arrow extra, ddllmobs_async.export imports, and its functions name the extra."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WITHOUT_PYARROW = """
import sys
sys.modules["pyarrow"] = None  # as if it were not installed
import ddllmobs_async
import ddllmobs_async.export as export

print(export.ExportSummary(rows=0, files=0, pages=0, seconds=0.0))
for name in export.__all__:
    if name == "ExportSummary":
        continue
    try:
        getattr(export, name)
    except ImportError as error:
        assert "pip install 'ddllmobs-async[arrow]'" in str(error), error
        print("ImportError", name)
    else:
        raise AssertionError(name)
try:
    from ddllmobs_async.export import export_experiments
except ImportError as error:
    print("from-import:", error)
try:
    export.no_such_name
except AttributeError as error:
    print("AttributeError", error)
"""


def test_without_pyarrow_every_function_names_the_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", WITHOUT_PYARROW],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ExportSummary(rows=0")
    assert lines[1:10] == [
        f"ImportError {name}"
        for name in (
            "EVAL_METRICS_SCHEMA", "EXPERIMENTS_SCHEMA", "SPANS_SCHEMA", "buckets_table",
            "eval_metrics_table", "experiments_table", "export_experiment_events",
            "export_experiments", "spans_table",
        )
    ]  # fmt: skip
    assert "ddllmobs-async[arrow]" in lines[10]
    assert "no_such_name" in lines[11]


def test_the_extra_is_pyarrow_and_the_tests_have_the_readers() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert [r.split(">")[0] for r in extras["arrow"]] == ["pyarrow"]
    names = {r.split(">")[0].split("[")[0] for r in extras["test"]}
    assert {"pyarrow", "duckdb", "pandas", "polars"} <= names
