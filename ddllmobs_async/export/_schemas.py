"""The fixed Arrow schemas of the export tables (documented column by column in the docs)."""

from __future__ import annotations

import pyarrow as pa

#: Timestamps, except a span's exact start.
TIMESTAMP = pa.timestamp("us", tz="UTC")
#: A span's start, to the nanosecond.
TIMESTAMP_NS = pa.timestamp("ns", tz="UTC")
#: Free-form JSON values are stored as JSON text.
JSON_TEXT = pa.string()
TAGS = pa.list_(pa.string())
SPAN_METRICS = pa.map_(pa.string(), pa.float64())

EXPERIMENTS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("name", pa.string()),
        ("description", pa.string()),
        ("project_id", pa.string()),
        ("dataset_id", pa.string()),
        ("dataset_version", pa.int64()),
        ("dataset_name", pa.string()),
        ("experiment", pa.string()),
        ("status", pa.string()),
        ("run_count", pa.int64()),
        ("error", pa.string()),
        ("parent_experiment_id", pa.string()),
        ("created_at", TIMESTAMP),
        ("updated_at", TIMESTAMP),
        ("deleted_at", TIMESTAMP),
        ("config", JSON_TEXT),
        ("metadata", JSON_TEXT),
        ("aggregate_data", JSON_TEXT),
        ("author_id", pa.string()),
        ("author_name", pa.string()),
        ("author_handle", pa.string()),
        ("author_email", pa.string()),
        ("author_icon", pa.string()),
    ]
)
"""Schema of :func:`experiments_table`: one row per :class:`~ddllmobs_async.Experiment`."""

SPANS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("span_id", pa.string()),
        ("trace_id", pa.string()),
        ("parent_id", pa.string()),
        ("name", pa.string()),
        ("status", pa.string()),
        ("start_ns", pa.int64()),
        ("start", TIMESTAMP_NS),
        ("duration_ns", pa.float64()),
        ("dataset_record_id", pa.string()),
        ("tags", TAGS),
        ("metrics", SPAN_METRICS),
        ("input", JSON_TEXT),
        ("output", JSON_TEXT),
        ("expected_output", JSON_TEXT),
        ("error_type", pa.string()),
        ("error_message", pa.string()),
        ("error_stack", pa.string()),
    ]
)
"""Schema of :func:`spans_table`: one row per :class:`~ddllmobs_async.ExperimentSpan`."""

EVAL_METRICS_SCHEMA = pa.schema(
    [
        ("span_id", pa.string()),
        ("trace_id", pa.string()),
        ("id", pa.string()),
        ("label", pa.string()),
        ("metric_type", pa.string()),
        ("score_value", pa.float64()),
        ("categorical_value", pa.string()),
        ("boolean_value", pa.bool_()),
        ("json_value", JSON_TEXT),
        ("assessment", pa.string()),
        ("reasoning", pa.string()),
        ("metric_source", pa.string()),
        ("eval_source_type", pa.string()),
        ("timestamp", TIMESTAMP),
        ("tags", TAGS),
        ("metadata", JSON_TEXT),
    ]
)
"""Schema of :func:`eval_metrics_table`: one row per :class:`~ddllmobs_async.EvalMetric`."""
