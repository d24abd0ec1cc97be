"""An experiment's summary metrics, de-duplicated across pages and across resumed runs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ddllmobs_async.export._schemas import EVAL_METRICS_SCHEMA
from ddllmobs_async.export._tables import evals_table
from ddllmobs_async.export._writer import write_file
from ddllmobs_async.models import EvalMetric

#: The de-duplicated summary metrics, written when the export completes.
FINAL_NAME = "summary_metrics.parquet"
#: Those seen so far, saved with each checkpoint (pages may carry them only once).
PARTIAL_NAME = "_summary_metrics.partial"


class SummaryMetrics:
    """Summary metrics by ``id`` (one without an ``id`` by its content), first seen wins."""

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._seen: set[str] = set()

    def add(self, metrics: Iterable[EvalMetric]) -> None:
        """Keep the metrics not seen yet, in order."""
        metrics = list(metrics)
        if metrics:
            self._keep(evals_table(metrics).to_pylist())

    def load(self, directory: Path) -> None:
        """Take back what an interrupted run saved with its checkpoint."""
        path = directory / PARTIAL_NAME
        if path.is_file():
            self._keep(pq.read_table(path, schema=EVAL_METRICS_SCHEMA).to_pylist())

    def save(self, directory: Path, *, final: bool) -> int:
        """Save the metrics seen so far, or write the final file; the files written."""
        table = pa.Table.from_pylist(self._rows, schema=EVAL_METRICS_SCHEMA)
        if not final:
            write_file(directory / PARTIAL_NAME, table)
            return 0
        write_file(directory / FINAL_NAME, table)
        (directory / PARTIAL_NAME).unlink(missing_ok=True)
        return 1

    def _keep(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            key = _key(row)
            if key not in self._seen:
                self._seen.add(key)
                self._rows.append(row)


def _key(row: dict[str, Any]) -> str:
    if row["id"] is not None:
        return f"id:{row['id']}"
    return "content:" + json.dumps(row, sort_keys=True, default=str)
