"""Experiments, results and aggregates as Arrow tables and resumable Parquet datasets.

Needs the ``arrow`` extra (``pip install "ddllmobs-async[arrow]"``, pyarrow only): without
it, this module imports but every name below except :class:`ExportSummary` raises an
``ImportError`` that names the extra. pandas and polars are reached through Arrow:
``table.to_pandas()``, ``polars.from_arrow(table)``.

- Tables: :func:`experiments_table`, :func:`spans_table`, :func:`eval_metrics_table` and
  :func:`buckets_table` build a ``pyarrow.Table`` column by column from the models, with a
  fixed schema (:data:`EXPERIMENTS_SCHEMA`, :data:`SPANS_SCHEMA`, :data:`EVAL_METRICS_SCHEMA`):
  the same input always gives the same schema, even an empty one.
- Datasets: :func:`export_experiments` and :func:`export_experiment_events` stream pages
  from the client into a directory of Parquet files (one row group per page, one file per
  ``pages_per_file`` pages) with a checkpoint: called again on the same directory, an
  interrupted export continues where it stopped, writing nothing twice.

Column rules: timestamps are ``timestamp("us", tz="UTC")``, except a span's start, kept
exact as ``start_ns`` (int64) and ``start`` (``timestamp("ns", tz="UTC")``); enums are
strings; ``tags`` are ``list<string>``; span ``metrics`` are ``map<string, float64>``;
free-form JSON values (``config``, ``metadata``, ``aggregate_data``, ``input``, ``output``,
``expected_output``, ``json_value``) are JSON text (``null`` when absent); the author and a
span's error are flattened into prefixed columns (``author_name``, ``error_message``...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ddllmobs_async.export._summary import ExportSummary

if TYPE_CHECKING:
    from ddllmobs_async.export._dataset import export_experiment_events, export_experiments
    from ddllmobs_async.export._schemas import (
        EVAL_METRICS_SCHEMA,
        EXPERIMENTS_SCHEMA,
        SPANS_SCHEMA,
    )
    from ddllmobs_async.export._tables import (
        buckets_table,
        eval_metrics_table,
        experiments_table,
        spans_table,
    )

__all__ = [
    "EVAL_METRICS_SCHEMA",
    "EXPERIMENTS_SCHEMA",
    "SPANS_SCHEMA",
    "ExportSummary",
    "buckets_table",
    "eval_metrics_table",
    "experiments_table",
    "export_experiment_events",
    "export_experiments",
    "spans_table",
]

#: The names that need pyarrow, and the private module defining each.
_NEEDS_PYARROW = {
    "EVAL_METRICS_SCHEMA": "_schemas",
    "EXPERIMENTS_SCHEMA": "_schemas",
    "SPANS_SCHEMA": "_schemas",
    "buckets_table": "_tables",
    "eval_metrics_table": "_tables",
    "experiments_table": "_tables",
    "spans_table": "_tables",
    "export_experiment_events": "_dataset",
    "export_experiments": "_dataset",
}

_MISSING_PYARROW = (
    "ddllmobs_async.export needs pyarrow: install the arrow extra, "
    "pip install 'ddllmobs-async[arrow]'"
)


def __getattr__(name: str) -> Any:
    module = _NEEDS_PYARROW.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        import pyarrow  # noqa: F401
    except ImportError as error:
        raise ImportError(_MISSING_PYARROW, name="pyarrow") from error
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
