"""Models -> Arrow tables, built column by column (one ``pyarrow.array`` per column)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import pyarrow as pa

from ddllmobs_async.export._schemas import (
    EVAL_METRICS_SCHEMA,
    EXPERIMENTS_SCHEMA,
    SPANS_SCHEMA,
    TIMESTAMP,
)
from ddllmobs_async.models import (
    AggregateQuery,
    AggregateResult,
    Author,
    Bucket,
    Compute,
    EvalMetric,
    Experiment,
    ExperimentSpan,
    SpanError,
)

_T = TypeVar("_T")
_NO_AUTHOR = Author()
_NO_ERROR = SpanError()


def experiments_table(experiments: Iterable[Experiment]) -> pa.Table:
    """One row per experiment, with the schema :data:`EXPERIMENTS_SCHEMA`.

    The author is flattened into ``author_*`` columns (null without
    ``include_user_data=True``); ``config``, ``metadata`` and ``aggregate_data`` are JSON
    text.
    """
    rows = _as_list(experiments)
    authors = [row.author or _NO_AUTHOR for row in rows]
    return _table(
        EXPERIMENTS_SCHEMA,
        id=[row.id for row in rows],
        name=[row.name for row in rows],
        description=[row.description for row in rows],
        project_id=[row.project_id for row in rows],
        dataset_id=[row.dataset_id for row in rows],
        dataset_version=[row.dataset_version for row in rows],
        dataset_name=[row.dataset_name for row in rows],
        experiment=[row.experiment for row in rows],
        status=[row.status for row in rows],
        run_count=[row.run_count for row in rows],
        error=[row.error for row in rows],
        parent_experiment_id=[row.parent_experiment_id for row in rows],
        created_at=[row.created_at for row in rows],
        updated_at=[row.updated_at for row in rows],
        deleted_at=[row.deleted_at for row in rows],
        config=json_texts(row.config for row in rows),
        metadata=json_texts(row.metadata for row in rows),
        aggregate_data=json_texts(row.aggregate_data for row in rows),
        author_id=[author.id for author in authors],
        author_name=[author.name for author in authors],
        author_handle=[author.handle for author in authors],
        author_email=[author.email for author in authors],
        author_icon=[author.icon for author in authors],
    )


def spans_table(spans: Iterable[ExperimentSpan]) -> pa.Table:
    """One row per span, with the schema :data:`SPANS_SCHEMA` (evals: :func:`eval_metrics_table`).

    ``start_ns`` is the exact integer and ``start`` the same instant as a nanosecond
    timestamp; ``input``, ``output`` and ``expected_output`` are JSON text; the error is
    flattened into ``error_type``, ``error_message`` and ``error_stack``.
    """
    rows = _as_list(spans)
    errors = [row.error or _NO_ERROR for row in rows]
    start_ns = [row.start_ns for row in rows]
    return _table(
        SPANS_SCHEMA,
        id=[row.id for row in rows],
        span_id=[row.span_id for row in rows],
        trace_id=[row.trace_id for row in rows],
        parent_id=[row.parent_id for row in rows],
        name=[row.name for row in rows],
        status=[row.status for row in rows],
        start_ns=start_ns,
        start=start_ns,
        duration_ns=[row.duration_ns for row in rows],
        dataset_record_id=[row.dataset_record_id for row in rows],
        tags=[row.tags for row in rows],
        metrics=[row.metrics for row in rows],
        input=json_texts(row.input for row in rows),
        output=json_texts(row.output for row in rows),
        expected_output=json_texts(row.expected_output for row in rows),
        error_type=[error.type for error in errors],
        error_message=[error.message for error in errors],
        error_stack=[error.stack for error in errors],
    )


def eval_metrics_table(spans: Iterable[ExperimentSpan]) -> pa.Table:
    """One row per eval of the spans, with the schema :data:`EVAL_METRICS_SCHEMA`.

    Each row carries its span's ``span_id`` and ``trace_id`` (the eval's own when the span
    has none); ``timestamp`` is the eval's ``timestamp_ms``; ``json_value`` and
    ``metadata`` are JSON text.
    """
    evals: list[EvalMetric] = []
    span_ids: list[str | None] = []
    trace_ids: list[str | None] = []
    for span in spans:
        for metric in span.eval_metrics:
            evals.append(metric)
            span_ids.append(span.span_id if span.span_id is not None else metric.span_id)
            trace_ids.append(span.trace_id if span.trace_id is not None else metric.trace_id)
    return evals_table(evals, span_ids=span_ids, trace_ids=trace_ids)


def evals_table(
    evals: Sequence[EvalMetric],
    *,
    span_ids: Sequence[str | None] | None = None,
    trace_ids: Sequence[str | None] | None = None,
) -> pa.Table:
    """Eval metrics (span-level or summary) with the schema :data:`EVAL_METRICS_SCHEMA`."""
    return _table(
        EVAL_METRICS_SCHEMA,
        span_id=list(span_ids) if span_ids is not None else [m.span_id for m in evals],
        trace_id=list(trace_ids) if trace_ids is not None else [m.trace_id for m in evals],
        id=[m.id for m in evals],
        label=[m.label for m in evals],
        metric_type=[m.metric_type for m in evals],
        score_value=[m.score_value for m in evals],
        categorical_value=[m.categorical_value for m in evals],
        boolean_value=[m.boolean_value for m in evals],
        json_value=json_texts(m.json_value for m in evals),
        assessment=[m.assessment for m in evals],
        reasoning=[m.reasoning for m in evals],
        metric_source=[m.metric_source for m in evals],
        eval_source_type=[m.eval_source_type for m in evals],
        timestamp=pa.array([m.timestamp_ms for m in evals], pa.timestamp("ms", tz="UTC")).cast(
            TIMESTAMP
        ),
        tags=[m.tags for m in evals],
        metadata=json_texts(m.metadata for m in evals),
    )


def buckets_table(result: AggregateResult, query: AggregateQuery) -> pa.Table:
    """One row per bucket of an aggregate ``result``, with columns from its ``query``.

    One string column per group-by field (a value that is not a string is JSON text), then
    one float64 column per compute of the query, named by its alias or its metric
    (:attr:`Compute.key`); a metric the bucket lacks is null. The columns come from the
    query, so an empty result keeps them.

    Raises:
        ValueError: Two columns would have the same name.
        KeyError: The server keyed a metric by name while two computes share it (see
            :meth:`Bucket.value`).
    """
    names = [group.field for group in query.group_by] + [c.key for c in query.compute]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"buckets_table: columns {duplicates} would appear twice")
    buckets = result.buckets
    fields: list[pa.Field] = []
    arrays: list[pa.Array] = []
    for group in query.group_by:
        fields.append(pa.field(group.field, pa.string()))
        arrays.append(pa.array([_group_text(b.by.get(group.field)) for b in buckets], pa.string()))
    for compute in query.compute:
        fields.append(pa.field(compute.key, pa.float64()))
        arrays.append(pa.array([_metric(b, compute) for b in buckets], pa.float64()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def warm_up() -> None:
    """Pay pyarrow's one-time cost of converting aware datetimes (about 0.2 s) now.

    The export calls this in its worker thread, so the event loop does not pay it on the
    first page.
    """
    pa.array([datetime(2000, 1, 1, tzinfo=UTC)], TIMESTAMP)


def json_texts(values: Iterable[Any]) -> list[bytes | None]:
    """Each value as UTF-8 JSON text (``None`` stays null), for a JSON-text column."""
    return [None if value is None else _json_text(value) for value in values]


def _json_text(value: Any) -> bytes:
    if _orjson_dumps is not None:
        try:
            return _orjson_dumps(value)
        except TypeError:  # an integer beyond 64 bits, or a key that is not a string
            pass
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _find_orjson() -> Callable[[Any], bytes] | None:
    try:
        import orjson
    except ImportError:
        return None
    return orjson.dumps


_orjson_dumps = _find_orjson()


def _group_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return _json_text(value).decode()


def _metric(bucket: Bucket, compute: Compute) -> Any:
    if compute.metric not in bucket.metrics and compute.name not in bucket.metrics:
        return None
    return bucket.value(compute)


def _as_list(items: Iterable[_T]) -> list[_T]:
    return items if isinstance(items, list) else list(items)


def _table(schema: pa.Schema, **columns: Any) -> pa.Table:
    arrays = [_array(columns[field.name], field.type) for field in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _array(values: Any, type_: pa.DataType) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values, type_)
