"""Request models validate on construction; the converter produces the documented body."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ddllmobs_async as dd
from ddllmobs_async._converters.analytics import unstructure_aggregate_query
from tests.openapi import validate

START = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
END = datetime(2024, 1, 15, 11, 30, tzinfo=UTC)


def test_reference_example_body_is_reproduced_exactly() -> None:
    query = dd.AggregateQuery(
        compute=[dd.Compute("score_value", name="avg_faithfulness")],
        indexes=["experiment-evals"],
        query="@experiment_id:3fd6b5e0-8910-4b1c-a7d0-5b84de329012",
        group_by=["span_id"],
        time=dd.TimeRange(start=START, end=END),
        limit=1000,
        dataset_version=3,
    )
    body = unstructure_aggregate_query(query)
    assert body == {
        "data": {
            "type": "experimentation",
            "attributes": {
                "aggregate": {
                    "compute": [{"metric": "score_value", "name": "avg_faithfulness"}],
                    "dataset_version": 3,
                    "group_by": [{"field": "span_id"}],
                    "indexes": ["experiment-evals"],
                    "limit": 1000,
                    "search": {"query": "@experiment_id:3fd6b5e0-8910-4b1c-a7d0-5b84de329012"},
                    "time": {"from": 1705314600000, "to": 1705318200000},
                }
            },
        }
    }
    validate("LLMObsExperimentationAnalyticsRequest", body)


def test_unset_optionals_are_omitted() -> None:
    body = unstructure_aggregate_query(dd.AggregateQuery(["count"], ["experiment-evals"], "*"))
    aggregate = body["data"]["attributes"]["aggregate"]
    assert aggregate == {
        "compute": [{"metric": "count"}],
        "indexes": ["experiment-evals"],
        "search": {"query": "*"},
    }
    validate("LLMObsExperimentationAnalyticsRequest", body)


def test_strings_are_promoted_to_compute_and_group_by() -> None:
    query = dd.AggregateQuery("score_value", "experiment-evals", "*", group_by="span_id")
    assert query.compute == (dd.Compute("score_value"),)
    assert query.indexes == ("experiment-evals",)
    assert query.group_by == (dd.GroupBy("span_id"),)
    mixed = dd.AggregateQuery(
        [dd.Compute("a", name="x"), "b"], ["i"], "*", group_by=[dd.GroupBy("f"), "g"]
    )
    assert [c.key for c in mixed.compute] == ["x", "b"]


@pytest.mark.parametrize(
    "computes",
    [
        [dd.Compute("score_value", name="x"), dd.Compute("count", name="x")],
        ["score_value", dd.Compute("count", name="score_value")],
        ["count", "count"],
    ],
)
def test_two_computes_reported_under_one_key_are_refused(computes: list[Any]) -> None:
    # The server keys each result by name (or metric): both would read one value back.
    with pytest.raises(ValueError, match=r"AggregateQuery\.compute .* distinct name="):
        dd.AggregateQuery(computes, ["experiment-evals"], "*")


def test_computes_of_one_metric_under_distinct_names_are_kept() -> None:
    query = dd.AggregateQuery(
        [dd.Compute("score_value", name="a"), dd.Compute("score_value", name="b"), "count"],
        ["experiment-evals"],
        "*",
    )
    assert [c.key for c in query.compute] == ["a", "b", "count"]


def test_time_range_accepts_epoch_ms_and_other_timezones() -> None:
    plus_two = timezone(timedelta(hours=2))
    body = unstructure_aggregate_query(
        dd.AggregateQuery(
            ["count"],
            ["i"],
            "*",
            time=dd.TimeRange(datetime(2024, 1, 15, 12, 30, tzinfo=plus_two), 1705318200000),
        )
    )
    assert body["data"]["attributes"]["aggregate"]["time"] == {
        "from": 1705314600000,
        "to": 1705318200000,
    }


@settings(max_examples=300)
@given(st.datetimes(min_value=datetime(1970, 1, 2), timezones=st.just(UTC)))
def test_datetimes_are_sent_as_exact_epoch_milliseconds(moment: datetime) -> None:
    exact = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    body = unstructure_aggregate_query(
        dd.AggregateQuery(["count"], ["i"], "*", time=dd.TimeRange(moment, moment))
    )
    assert body["data"]["attributes"]["aggregate"]["time"] == {"from": exact, "to": exact}


def test_a_millisecond_that_float_arithmetic_rounds_down_is_sent_exactly() -> None:
    moment = datetime(2004, 3, 15, 7, 55, 47, 472000, tzinfo=UTC)  # float: ...471
    window = dd.TimeRange(moment, moment)
    body = unstructure_aggregate_query(dd.AggregateQuery(["count"], ["i"], "*", time=window))
    assert body["data"]["attributes"]["aggregate"]["time"]["from"] == 1079337347472


def test_dataset_version_takes_any_int64() -> None:
    query = dd.AggregateQuery(["m"], ["i"], "*", dataset_version=2**40)
    body = unstructure_aggregate_query(query)
    assert body["data"]["attributes"]["aggregate"]["dataset_version"] == 2**40


def test_time_range_last() -> None:
    window = dd.TimeRange.last(timedelta(hours=1), now=END)
    assert window == dd.TimeRange(START, END)


@pytest.mark.parametrize(
    ("build", "exc", "message"),
    [
        (lambda: dd.AggregateQuery([], ["i"], "*"), ValueError, "compute"),
        (lambda: dd.AggregateQuery(["m"], [], "*"), ValueError, "indexes"),
        (lambda: dd.AggregateQuery(["m"], [""], "*"), ValueError, "indexes"),
        (lambda: dd.AggregateQuery(["m"], ["i"], None), TypeError, "query"),  # type: ignore[arg-type]
        (lambda: dd.AggregateQuery(["m"], ["i"], "*", limit=0), ValueError, "limit"),
        (lambda: dd.AggregateQuery(["m"], ["i"], "*", limit=2**31), ValueError, "limit"),
        (lambda: dd.AggregateQuery(["m"], ["i"], "*", limit=True), TypeError, "limit"),
        (lambda: dd.AggregateQuery(["m"], ["i"], "*", limit="10"), TypeError, "limit"),  # type: ignore[arg-type]
        (
            lambda: dd.AggregateQuery(["m"], ["i"], "*", dataset_version=-1),
            ValueError,
            "dataset_version",
        ),
        (
            lambda: dd.AggregateQuery(["m"], ["i"], "*", dataset_version=2**63),
            ValueError,
            "dataset_version",
        ),
        (lambda: dd.AggregateQuery(None, ["i"], "*"), TypeError, "compute"),  # type: ignore[arg-type]
        (lambda: dd.AggregateQuery(["m"], None, "*"), TypeError, "indexes"),  # type: ignore[arg-type]
        (lambda: dd.AggregateQuery(["m"], 5, "*"), TypeError, "indexes"),  # type: ignore[arg-type]
        (lambda: dd.AggregateQuery(["m"], ["i"], "*", group_by=7), TypeError, "group_by"),  # type: ignore[arg-type]
        (lambda: dd.AggregateQuery({"m": 1}, ["i"], "*"), TypeError, "compute"),
        (lambda: dd.TimeRange(0, 2**63), ValueError, "int64"),
        (lambda: dd.TimeRange(0, 10**20), ValueError, "int64"),
        (lambda: dd.AggregateQuery(["m"], ["i"], "*", time=(1, 2)), TypeError, "time"),  # type: ignore[arg-type]
        (lambda: dd.TimeRange(END, START), ValueError, "after"),
        (lambda: dd.TimeRange(datetime(2024, 1, 1), END), ValueError, "naive"),
        (lambda: dd.TimeRange(START, "2024-01-01"), TypeError, "end"),  # type: ignore[arg-type]
        (lambda: dd.TimeRange(-5, 10), ValueError, "start"),
        (lambda: dd.Compute(""), ValueError, "metric"),
        (lambda: dd.Compute("m", name=""), ValueError, "name"),
        (lambda: dd.GroupBy(""), ValueError, "field"),
    ],
)
def test_invalid_queries_fail_on_construction(
    build: Any, exc: type[Exception], message: str
) -> None:
    with pytest.raises(exc, match=message):
        build()


def test_models_are_frozen() -> None:
    query = dd.AggregateQuery(["m"], ["i"], "*")
    with pytest.raises(AttributeError):
        query.limit = 5  # type: ignore[misc]
