"""Output of the ``ddllmobs`` command line: streamed experiment rows, tables, progress."""

from __future__ import annotations

import csv
import enum
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TextIO

import attrs

from ddllmobs_async.models import AggregateResult, Compute, Experiment

FORMATS = ("table", "json", "jsonl", "csv")

# Table columns: (header, width, value); width None means "never truncate".
_TABLE_COLUMNS: tuple[tuple[str, int | None, Callable[[Experiment], str]], ...] = (
    ("ID", None, lambda e: e.id),
    ("NAME", 28, lambda e: e.name),
    ("EXPERIMENT", 16, lambda e: e.experiment or ""),
    ("STATUS", 11, lambda e: "" if e.status is None else str(e.status)),
    ("CREATED", 20, lambda e: format_time(e.created_at)),
)
_ID_WIDTH = 36

CSV_FIELDS = (
    "id",
    "name",
    "experiment",
    "status",
    "project_id",
    "dataset_id",
    "dataset_name",
    "dataset_version",
    "created_at",
    "updated_at",
    "deleted_at",
    "parent_experiment_id",
    "run_count",
    "error",
    "description",
    "metadata",
    "config",
    "aggregate_data",
    "author",
)


def format_time(value: datetime | None) -> str:
    """An aware datetime as ISO 8601 in UTC with ``Z``, seconds precision."""
    if value is None:
        return ""
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def json_value(instance: object, field: object, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, enum.Enum):
        return value.value
    return value


def experiment_record(experiment: Experiment) -> dict[str, Any]:
    """An experiment as a JSON-compatible dict (timestamps as ISO strings)."""
    return attrs.asdict(experiment, value_serializer=json_value)


def dumps(value: Any) -> str:
    """Compact-ish JSON text, non-ASCII kept."""
    return json.dumps(value, ensure_ascii=False, default=str)


class ExperimentWriter(Protocol):
    """Writes experiments page by page, flushing after each page."""

    def begin(self) -> None:
        """Write whatever precedes the first row (a header, ``[``)."""

    def write(self, experiments: Sequence[Experiment]) -> None:
        """Write one page of rows and flush."""

    def end(self) -> None:
        """Write whatever follows the last row (``]``); called on failure too."""


class Writer:
    """Base of the row writers: ``begin``, ``write`` per page, ``end``."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def begin(self) -> None:
        pass

    def end(self) -> None:
        self.out.flush()


class TableWriter(Writer):
    """Fixed-width columns, so rows can be printed as pages arrive."""

    def begin(self) -> None:
        self.out.write(_table_line([name for name, _, _ in _TABLE_COLUMNS]))

    def write(self, experiments: Sequence[Experiment]) -> None:
        for experiment in experiments:
            self.out.write(_table_line([value(experiment) for _, _, value in _TABLE_COLUMNS]))
        self.out.flush()


def _table_line(cells: Sequence[str]) -> str:
    parts = []
    for (_, width, _), cell in zip(_TABLE_COLUMNS, cells, strict=True):
        size = width or _ID_WIDTH
        if width is not None and len(cell) > width:
            cell = cell[: width - 1] + "…"
        parts.append(cell.ljust(size))
    return "  ".join(parts).rstrip() + "\n"


class JsonWriter(Writer):
    """One JSON array of ``record(row)``, written incrementally; closed even after a failure."""

    def __init__(self, out: TextIO, record: Callable[[Any], Any] = experiment_record) -> None:
        super().__init__(out)
        self._record = record
        self._first = True

    def begin(self) -> None:
        self.out.write("[")

    def write(self, rows: Sequence[Any]) -> None:
        for row in rows:
            self.out.write("\n  " if self._first else ",\n  ")
            self.out.write(dumps(self._record(row)))
            self._first = False
        self.out.flush()

    def end(self) -> None:
        self.out.write("]\n" if self._first else "\n]\n")
        self.out.flush()


class JsonlWriter(Writer):
    """One JSON object, ``record(row)``, per line."""

    def __init__(self, out: TextIO, record: Callable[[Any], Any] = experiment_record) -> None:
        super().__init__(out)
        self._record = record

    def write(self, rows: Sequence[Any]) -> None:
        for row in rows:
            self.out.write(dumps(self._record(row)) + "\n")
        self.out.flush()


class CsvWriter(Writer):
    """A header row, then one row per experiment; nested objects as JSON text."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self._csv = csv.writer(out, lineterminator="\n")

    def begin(self) -> None:
        self._csv.writerow(CSV_FIELDS)

    def write(self, experiments: Sequence[Experiment]) -> None:
        for experiment in experiments:
            record = experiment_record(experiment)
            self._csv.writerow([_csv_cell(record.get(name)) for name in CSV_FIELDS])
        self.out.flush()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return dumps(value)
    return str(value)


def experiment_writer(kind: str, out: TextIO) -> ExperimentWriter:
    """The writer for ``--format kind``."""
    writers: dict[str, Callable[[TextIO], ExperimentWriter]] = {
        "table": TableWriter,
        "json": JsonWriter,
        "jsonl": JsonlWriter,
        "csv": CsvWriter,
    }
    return writers[kind](out)


# --- aggregate results ---------------------------------------------------------------------


def aggregate_record(result: AggregateResult, computes: Sequence[Compute]) -> dict[str, Any]:
    """An aggregate result as a JSON-compatible dict, each metric under its compute's name.

    Raises:
        KeyError: A bucket lacks a compute's value, or it is ambiguous (:meth:`Bucket.value`).
    """
    return {
        "id": result.id,
        "hit_count": result.hit_count,
        "buckets": [
            {"by": b.by, "metrics": {c.key: b.value(c) for c in computes}} for b in result.buckets
        ],
    }


def format_number(value: Any) -> str:
    """A metric value for a table: floats to 4 decimals, ``-`` for null."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table sized to its content."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [headers, *rows]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in lines
    )


def aggregate_table(result: AggregateResult, computes: Sequence[Compute]) -> str:
    """The buckets: one column per group-by field, then one per compute (its name).

    Raises:
        KeyError: A bucket lacks a compute's value, or it is ambiguous (:meth:`Bucket.value`).
    """
    by_fields: list[str] = []
    for bucket in result.buckets:
        by_fields += [f for f in bucket.by if f not in by_fields]
    rows = [
        [
            *(_text(b.by.get(f)) for f in by_fields),
            *(format_number(b.value(c)) for c in computes),
        ]
        for b in result.buckets
    ]
    headers = [f.upper() for f in by_fields] + [c.key.upper() for c in computes]
    return render_table(headers, rows)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else dumps(value)


# --- progress ------------------------------------------------------------------------------


class Progress:
    """A one-line ``pages, items, rate`` counter on a terminal; silent otherwise."""

    def __init__(
        self, stream: TextIO, *, enabled: bool | None = None, noun: str = "experiment"
    ) -> None:
        self._stream = stream
        self.noun = noun
        self.enabled = _isatty(stream) if enabled is None else enabled
        self._start = time.monotonic()
        self._shown = False
        self.pages = 0
        self.items = 0

    def page(self, items: int) -> None:
        """Count a page of ``items`` and redraw the line."""
        self.pages += 1
        self.items += items
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self._start, 1e-6)
        rate = self.items / elapsed
        self._stream.write(
            f"\r\x1b[K{plural(self.pages, 'page')}, {plural(self.items, self.noun)}, "
            f"{rate:.0f} {self.noun}s/s"
        )
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the line (before other output, and at the end)."""
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def plural(count: int, noun: str) -> str:
    """``"1 bucket"``, ``"2 buckets"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
