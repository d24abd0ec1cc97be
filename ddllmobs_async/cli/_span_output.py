"""Output of ``ddllmobs experiments events``: spans with their evals, in four formats."""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import attrs

from ddllmobs_async.cli._output import (
    JsonlWriter,
    JsonWriter,
    Writer,
    dumps,
    format_time,
    json_value,
)
from ddllmobs_async.cli._stream import RowWriter
from ddllmobs_async.models import EvalMetric, ExperimentSpan

SPAN_CSV_FIELDS = (
    "id",
    "span_id",
    "trace_id",
    "parent_id",
    "name",
    "status",
    "start",
    "start_ns",
    "duration_ns",
    "dataset_record_id",
    "error_type",
    "error_message",
    "input",
    "output",
    "expected_output",
    "metrics",
    "tags",
)
EVAL_COLUMN_PREFIX = "eval:"
_TABLE = (("ID", 20), ("STATUS", 7), ("DURATION", 9), ("EVALS", None))


def span_record(span: ExperimentSpan) -> dict[str, Any]:
    """A span (with its evals) as a JSON-compatible dict; ``start_ns`` stays an exact int."""
    return attrs.asdict(span, value_serializer=json_value)


def eval_text(metric: EvalMetric) -> str:
    """An eval's value for the table: four digits, JSON for objects, ``-`` when absent."""
    value = metric.value
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return _cell(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return dumps(value)


class SpanTableWriter(Writer):
    """Fixed-width ``ID STATUS DURATION EVALS`` rows (the span id), printed as pages arrive."""

    def begin(self) -> None:
        self.out.write(_table_line([name for name, _ in _TABLE]))

    def write(self, spans: Sequence[ExperimentSpan]) -> None:
        for span in spans:
            duration = "" if span.duration_ns is None else f"{span.duration_ns / 1e9:.2f}s"
            evals = " ".join(f"{m.label}={eval_text(m)}" for m in span.eval_metrics)
            status = "" if span.status is None else str(span.status)
            self.out.write(_table_line([span.span_id or span.id or "", status, duration, evals]))
        self.out.flush()


def _table_line(cells: Sequence[str]) -> str:
    parts = []
    for (_, width), cell in zip(_TABLE, cells, strict=True):
        parts.append(cell if width is None else cell.ljust(width))
    return "  ".join(parts).rstrip() + "\n"


class SpanCsvWriter(Writer):
    """One row per span, then one ``eval:<label>`` column per eval label seen.

    The columns depend on every span, so the rows are written at the end (also after a
    failure, with the spans read until then).
    """

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self._rows: list[tuple[list[str], dict[str, str]]] = []
        self._labels: dict[str, None] = {}

    def write(self, spans: Sequence[ExperimentSpan]) -> None:
        for span in spans:
            evals: dict[str, str] = {}
            for metric in span.eval_metrics:
                label = metric.label or ""
                self._labels.setdefault(label)
                evals.setdefault(label, _cell(metric.value))  # exact: CSV is data
            self._rows.append((_span_cells(span), evals))

    def end(self) -> None:
        writer = csv.writer(self.out, lineterminator="\n")
        writer.writerow([*SPAN_CSV_FIELDS, *(EVAL_COLUMN_PREFIX + label for label in self._labels)])
        for cells, evals in self._rows:
            writer.writerow([*cells, *(evals.get(label, "") for label in self._labels)])
        self._rows.clear()
        self.out.flush()


def _span_cells(span: ExperimentSpan) -> list[str]:
    error = span.error
    values: dict[str, Any] = {
        **{name: getattr(span, name, None) for name in SPAN_CSV_FIELDS},
        "start": format_time(span.start) if span.start_ns is not None else None,
        "status": None if span.status is None else str(span.status),
        "error_type": error.type if error else None,
        "error_message": error.message if error else None,
        "metrics": span.metrics or None,
        "tags": span.tags or None,
    }
    return [_cell(values[name]) for name in SPAN_CSV_FIELDS]


def span_writer(kind: str, out: TextIO) -> RowWriter[ExperimentSpan]:
    """The writer for ``--format kind``."""
    writers: dict[str, Callable[[TextIO], RowWriter[ExperimentSpan]]] = {
        "table": SpanTableWriter,
        "json": functools.partial(JsonWriter, record=span_record),
        "jsonl": functools.partial(JsonlWriter, record=span_record),
        "csv": SpanCsvWriter,
    }
    return writers[kind](out)
