"""ddllmobs_async.export tables: fixed, documented schemas and an exact Parquet round trip."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ddllmobs_async as dd
from ddllmobs_async import export
from ddllmobs_async.testing import FakeLLMObs, make_experiment

ROOT = Path(__file__).resolve().parent.parent
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

GOLDEN: dict[str, list[tuple[str, str]]] = {
    "EXPERIMENTS_SCHEMA": [
        ("id", "string"),
        ("name", "string"),
        ("description", "string"),
        ("project_id", "string"),
        ("dataset_id", "string"),
        ("dataset_version", "int64"),
        ("dataset_name", "string"),
        ("experiment", "string"),
        ("status", "string"),
        ("run_count", "int64"),
        ("error", "string"),
        ("parent_experiment_id", "string"),
        ("created_at", "timestamp[us, tz=UTC]"),
        ("updated_at", "timestamp[us, tz=UTC]"),
        ("deleted_at", "timestamp[us, tz=UTC]"),
        ("config", "string"),
        ("metadata", "string"),
        ("aggregate_data", "string"),
        ("author_id", "string"),
        ("author_name", "string"),
        ("author_handle", "string"),
        ("author_email", "string"),
        ("author_icon", "string"),
    ],
    "SPANS_SCHEMA": [
        ("id", "string"),
        ("span_id", "string"),
        ("trace_id", "string"),
        ("parent_id", "string"),
        ("name", "string"),
        ("status", "string"),
        ("start_ns", "int64"),
        ("start", "timestamp[ns, tz=UTC]"),
        ("duration_ns", "double"),
        ("dataset_record_id", "string"),
        ("tags", "list<item: string>"),
        ("metrics", "map<string, double>"),
        ("input", "string"),
        ("output", "string"),
        ("expected_output", "string"),
        ("error_type", "string"),
        ("error_message", "string"),
        ("error_stack", "string"),
    ],
    "EVAL_METRICS_SCHEMA": [
        ("span_id", "string"),
        ("trace_id", "string"),
        ("id", "string"),
        ("label", "string"),
        ("metric_type", "string"),
        ("score_value", "double"),
        ("categorical_value", "string"),
        ("boolean_value", "bool"),
        ("json_value", "string"),
        ("assessment", "string"),
        ("reasoning", "string"),
        ("metric_source", "string"),
        ("eval_source_type", "string"),
        ("timestamp", "timestamp[us, tz=UTC]"),
        ("tags", "list<item: string>"),
        ("metadata", "string"),
    ],
}
#: The documented type of each Arrow type, as the reference page spells it.
DOC_TYPES = {
    "string": "string",
    "int64": "int64",
    "double": "float64",
    "bool": "bool",
    "timestamp[us, tz=UTC]": 'timestamp("us", tz="UTC")',
    "timestamp[ns, tz=UTC]": 'timestamp("ns", tz="UTC")',
    "list<item: string>": "list<string>",
    "map<string, double>": "map<string, float64>",
}


# --------------------------------------------------------------------------- models


def spans() -> list[dd.ExperimentSpan]:
    """Spans covering every field: absent ones, every JSON kind, unknown enums, huge start_ns."""
    evals = [
        dd.EvalMetric(
            id="e-score",
            label="faithfulness",
            metric_type=dd.MetricType.SCORE,
            score_value=0.92,
            assessment=dd.Assessment.PASS,
            reasoning="all facts present",
            metric_source="custom",
            eval_source_type="llm",
            timestamp_ms=1787234603511,
            span_id="s1",
            trace_id="t1",
            tags=["judge:llm"],
            metadata={"judge": {"model": "x"}},
        ),
        dd.EvalMetric(
            id="e-cat",
            label="topic",
            metric_type=dd.MetricType.CATEGORICAL,
            categorical_value="billing",
            assessment=dd.Assessment.FAIL,
            timestamp_ms=0,
        ),
        dd.EvalMetric(label="exact", metric_type=dd.MetricType.BOOLEAN, boolean_value=False),
        dd.EvalMetric(
            label="shape",
            metric_type=dd.MetricType.JSON,
            json_value={"keys": ["a", "b"], "n": 2, "ok": True, "none": None, "x": 1.5},
        ),
        dd.EvalMetric(label="future", metric_type="vector", assessment="maybe", json_value=[1, 2]),
        dd.EvalMetric(),
    ]
    return [
        dd.ExperimentSpan(
            id="s1", span_id="s1", trace_id="t1", name="summarize", status=dd.SpanStatus.OK,
            start_ns=1787234601123456789, duration_ns=1843520000.5,
            dataset_record_id="rec-1", tags=["env:staging", "model:gpt-4o-mini"],
            metrics={"input_tokens": 412.0, "cost": 0.0031},
            input={"ticket": "Charged twice — refund please ✓", "lines": [1, 2.5, True, "x", {}]},
            output="A refund was requested.", expected_output={"summary": "Refund."},
            eval_metrics=evals[:4],
        ),
        dd.ExperimentSpan(
            id="s2", span_id="s2", trace_id="t1", parent_id="s1", name="llm", status="timeout",
            start_ns=2**62 + 1, duration_ns=0.0, input=42, output=[1, "two", {"three": 3}],
            expected_output=None, error=dd.SpanError(type="TimeoutError", message="too slow",
            stack="Traceback...\n  line 1"), eval_metrics=evals[4:],
        ),
        dd.ExperimentSpan(span_id="s3", input=False, output=3.25, error=dd.SpanError(message="m")),
        dd.ExperimentSpan(input="", output={"deep": [[{"a": None}]]}),
        dd.ExperimentSpan(),
    ]  # fmt: skip


async def listed_experiments(fake: FakeLLMObs, client: dd.LLMObsClient) -> list[dd.Experiment]:
    found = []
    for deleted in (False, True):
        found += [
            e
            async for e in client.list_experiments(
                project_id=fake.project_id, include_user_data=True, include_dataset_names=True,
                is_deleted=deleted or None,
            )
        ]  # fmt: skip
    return found


# --------------------------------------------------------------------------- rows -> models


def json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def timestamp_ms(value: datetime | None) -> int | None:
    return None if value is None else (value - EPOCH) // timedelta(milliseconds=1)


def experiment_from_row(row: dict[str, Any]) -> dd.Experiment:
    author = {name[7:]: row.pop(name) for name in list(row) if name.startswith("author_")}
    return dd.Experiment(
        **{**row, **{k: json_or_none(row[k]) for k in ("config", "metadata", "aggregate_data")}},
        author=dd.Author(**author) if any(v is not None for v in author.values()) else None,
    )


def span_from_row(row: dict[str, Any], evals: list[dd.EvalMetric]) -> dd.ExperimentSpan:
    error = {name[6:]: row.pop(name) for name in list(row) if name.startswith("error_")}
    del row["start"]  # checked against start_ns separately
    return dd.ExperimentSpan(
        **{
            **row,
            **{k: json_or_none(row[k]) for k in ("input", "output", "expected_output")},
            "metrics": dict(row["metrics"]),
        },
        error=dd.SpanError(**error) if any(v is not None for v in error.values()) else None,
        eval_metrics=evals,
    )


def eval_from_row(row: dict[str, Any]) -> dd.EvalMetric:
    fields = {name: value for name, value in row.items() if name != "timestamp"}
    return dd.EvalMetric(
        **{
            **fields,
            "json_value": json_or_none(row["json_value"]),
            "metadata": json_or_none(row["metadata"]),
            "timestamp_ms": timestamp_ms(row["timestamp"]),
        }
    )


def round_trip(table: pa.Table, path: Path) -> pa.Table:
    pq.write_table(table, path)
    return pq.read_table(path)


# --------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_schemas_are_fixed(name: str) -> None:
    schema = getattr(export, name)
    assert [(field.name, str(field.type)) for field in schema] == GOLDEN[name]
    assert all(field.nullable for field in schema)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_schemas_are_documented(name: str) -> None:
    page = (ROOT / "docs" / "reference" / "export.md").read_text()
    section = page.split(f"### `{name}`", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| `([^`]+)` \|", section, flags=re.MULTILINE)
    assert rows == [(column, DOC_TYPES[type_]) for column, type_ in GOLDEN[name]]


def test_same_input_same_schema_even_empty_or_absent(tmp_path: Path) -> None:
    absent = [dd.ExperimentSpan(), dd.ExperimentSpan(eval_metrics=[dd.EvalMetric()])]
    inputs: tuple[list[dd.ExperimentSpan], ...] = ([], absent, spans())
    for build, schema in (
        (export.spans_table, export.SPANS_SCHEMA),
        (export.eval_metrics_table, export.EVAL_METRICS_SCHEMA),
    ):
        for models in inputs:
            table = build(models)
            assert table.schema.equals(schema, check_metadata=True)
            assert round_trip(table, tmp_path / "t.parquet").schema.equals(schema)
    table = export.experiments_table([])
    assert table.schema.equals(export.EXPERIMENTS_SCHEMA) and table.num_rows == 0


def test_tables_take_any_iterable() -> None:
    models = spans()
    assert export.spans_table(iter(models)).equals(export.spans_table(models))
    assert export.eval_metrics_table(m for m in models).equals(export.eval_metrics_table(models))


# --------------------------------------------------------------------------- round trips


async def test_experiments_round_trip(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    fake.add_experiments(
        make_experiment(
            id="odd", created_at="2026-08-20T14:03:21.123456789Z", config=None, metadata=None,
            aggregate_data={"faithfulness": {"mean": 0.5}, "n": [1, None]}, status="paused",
            description=None, dataset_version=None, run_count=None, error="boom",
        )
    )  # fmt: skip
    experiments = await listed_experiments(fake, client)
    assert len(experiments) > 50 and any(e.author for e in experiments)
    table = round_trip(export.experiments_table(experiments), tmp_path / "e.parquet")
    assert table.schema.equals(export.EXPERIMENTS_SCHEMA)
    back = [experiment_from_row(row) for row in table.to_pylist()]
    assert back == experiments
    odd = next(e for e in back if e.id == "odd")
    assert odd.created_at == datetime(2026, 8, 20, 14, 3, 21, 123456, tzinfo=UTC)
    assert odd.status == "paused" and odd.config == {} and odd.aggregate_data is not None
    assert any(e.deleted_at is not None for e in back)


def test_spans_and_evals_round_trip(tmp_path: Path) -> None:
    models = spans()
    span_rows = round_trip(export.spans_table(models), tmp_path / "s.parquet")
    eval_rows = round_trip(export.eval_metrics_table(models), tmp_path / "e.parquet")
    assert span_rows.schema.equals(export.SPANS_SCHEMA)
    assert eval_rows.schema.equals(export.EVAL_METRICS_SCHEMA)

    evals = iter([eval_from_row(row) for row in eval_rows.to_pylist()])
    assert eval_rows.num_rows == sum(len(s.eval_metrics) for s in models)
    for row, original in zip(span_rows.to_pylist(), models, strict=True):
        own = [next(evals) for _ in original.eval_metrics]  # eval rows are in span order
        # An eval row carries its span's ids (the eval's own where the span has none).
        assert own == [_with_span_ids(metric, original) for metric in original.eval_metrics]
        assert span_from_row(row, []) == attrs.evolve(original, eval_metrics=[])

    # start_ns is exact beyond 2**53, and start is the same instant to the nanosecond.
    assert span_rows["start_ns"].to_pylist()[:2] == [1787234601123456789, 2**62 + 1]
    assert span_rows["start"].cast(pa.int64()).equals(span_rows["start_ns"])
    assert eval_rows["timestamp"].type == pa.timestamp("us", tz="UTC")


async def test_spans_from_the_fake_round_trip(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    live = [e["id"] for e in fake.experiments if not e["attributes"]["deleted_at"]]
    spans = [
        span
        for experiment_id in live[:8]
        for span in (await client.get_experiment_results(experiment_id)).spans
    ]
    assert any(s.error for s in spans) and any(s.parent_id for s in spans)
    span_rows = round_trip(export.spans_table(spans), tmp_path / "s.parquet").to_pylist()
    eval_rows = round_trip(export.eval_metrics_table(spans), tmp_path / "e.parquet")
    evals = iter([eval_from_row(row) for row in eval_rows.to_pylist()])
    for row, span in zip(span_rows, spans, strict=True):
        own = [next(evals) for _ in span.eval_metrics]
        assert span_from_row(row, own) == span  # the fake's evals carry their span's ids
    assert next(evals, None) is None


def _with_span_ids(metric: dd.EvalMetric, span: dd.ExperimentSpan) -> dd.EvalMetric:
    return attrs.evolve(
        metric,
        span_id=span.span_id if span.span_id is not None else metric.span_id,
        trace_id=span.trace_id if span.trace_id is not None else metric.trace_id,
    )


def test_eval_rows_carry_their_span_ids() -> None:
    models = spans()
    table = export.eval_metrics_table(models)
    expected = [(s.span_id, s.trace_id) for s in models for _ in s.eval_metrics]
    assert list(zip(table["span_id"].to_pylist(), table["trace_id"].to_pylist(), strict=True)) == (
        expected
    )
    assert table["metric_type"].to_pylist()[-2:] == ["vector", None]
    assert table["json_value"].to_pylist()[3] == (
        '{"keys":["a","b"],"n":2,"ok":true,"none":null,"x":1.5}'
    )


def test_json_columns_hold_json_text_and_null_when_absent() -> None:
    table = export.spans_table(spans())
    assert table["input"].to_pylist()[1:] == ["42", "false", '""', None]
    assert table["output"].to_pylist()[3] == '{"deep":[[{"a":null}]]}'
    assert json.loads(table["input"].to_pylist()[0])["ticket"] == "Charged twice — refund please ✓"
    big = export.spans_table([dd.ExperimentSpan(input={"n": 2**70, 1: "int key"})])
    assert json.loads(big["input"][0].as_py()) == {"n": 2**70, "1": "int key"}


# --------------------------------------------------------------------------- buckets


async def test_buckets_table_from_a_real_aggregate(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    query = dd.AggregateQuery(
        compute=[dd.Compute("score_value", name="avg_score"), dd.Compute("count")],
        indexes=["experiment-evals"],
        query="*",
        group_by=["experiment_id", "label"],
    )
    result = await client.aggregate(query)
    table = export.buckets_table(result, query)
    assert table.schema == pa.schema(
        [("experiment_id", pa.string()), ("label", pa.string()),
         ("avg_score", pa.float64()), ("count", pa.float64())]
    )  # fmt: skip
    assert table.num_rows == len(result.buckets) > 10
    for row, bucket in zip(table.to_pylist(), result.buckets, strict=True):
        assert row["experiment_id"] == bucket.by["experiment_id"]
        assert row["avg_score"] == bucket.value(query.compute[0])
        assert row["count"] == bucket.value("count")


def test_buckets_table_columns_come_from_the_query() -> None:
    query = dd.AggregateQuery(
        compute=[dd.Compute("score_value", name="p50"), "score_value"],
        indexes=["experiment-evals"],
        query="*",
        group_by=["label", "dataset_version"],
    )
    empty = export.buckets_table(dd.AggregateResult(id="r", hit_count=0, buckets=[]), query)
    assert empty.num_rows == 0
    assert empty.schema.names == ["label", "dataset_version", "p50", "score_value"]
    buckets = [
        dd.Bucket(by={"label": "a", "dataset_version": 3}, metrics={"p50": 0.5, "score_value": 1}),
        dd.Bucket(by={"label": None}, metrics={"p50": None}),
    ]
    table = export.buckets_table(dd.AggregateResult(id="r", hit_count=2, buckets=buckets), query)
    assert table.to_pylist() == [
        {"label": "a", "dataset_version": "3", "p50": 0.5, "score_value": 1.0},
        {"label": None, "dataset_version": None, "p50": None, "score_value": None},
    ]


def test_buckets_table_refuses_duplicate_columns() -> None:
    query = dd.AggregateQuery(
        compute=[dd.Compute("score_value", name="label")], indexes=["x"], query="*",
        group_by=["label"],
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"\['label'\] would appear twice"):
        export.buckets_table(dd.AggregateResult(id="r", hit_count=0, buckets=[]), query)
