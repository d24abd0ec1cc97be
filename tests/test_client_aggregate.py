"""client.aggregate against the fake: bodies, results, null metrics, server-side validation."""

from __future__ import annotations

from datetime import UTC, datetime
from statistics import mean
from typing import Any

import pytest

import ddllmobs_async as dd
from ddllmobs_async.testing import FakeLLMObs
from tests.conftest import ClientFactory
from tests.openapi import validate

EVENTS: list[dict[str, Any]] = [
    {
        "experiment_id": "e1",
        "span_id": "s1",
        "label": "faithfulness",
        "score_value": 0.5,
        "dataset_version": 1,
        "timestamp": 1_000,
    },
    {
        "experiment_id": "e1",
        "span_id": "s1",
        "label": "faithfulness",
        "score_value": 1.0,
        "dataset_version": 1,
        "timestamp": 2_000,
    },
    {
        "experiment_id": "e1",
        "span_id": "s2",
        "label": "relevance",
        "score_value": 0.25,
        "dataset_version": 2,
        "timestamp": 3_000,
    },
    {
        "experiment_id": "e2",
        "span_id": "s3",
        "label": "faithfulness",
        "score_value": None,
        "dataset_version": 2,
        "timestamp": 4_000,
    },
]


@pytest.fixture
async def events_fake() -> Any:
    async with FakeLLMObs(eval_events=EVENTS) as server:
        yield server


async def test_group_by_averages_per_bucket(
    events_fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(events_fake)
    result = await client.aggregate(
        dd.AggregateQuery(
            compute=[dd.Compute("score_value", name="avg_score"), dd.Compute("count")],
            indexes=["experiment-evals"],
            query="@experiment_id:e1",
            group_by=["span_id"],
        )
    )
    assert result.hit_count == 3
    assert {b.by["span_id"]: b.metrics for b in result.buckets} == {
        "s1": {"avg_score": mean([0.5, 1.0]), "count": 2},
        "s2": {"avg_score": 0.25, "count": 1},
    }
    (request,) = events_fake.requests_to("analytics")
    validate("LLMObsExperimentationAnalyticsRequest", request.json)
    assert request.headers["Content-Type"].startswith("application/json")


async def test_null_metric_time_range_dataset_version_and_limit(
    events_fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(events_fake)
    result = await client.aggregate(
        dd.AggregateQuery(
            ["score_value"],
            ["experiment-evals"],
            "*",
            group_by=[dd.GroupBy("experiment_id")],
            time=dd.TimeRange(start=datetime.fromtimestamp(2.5, UTC), end=4_000),
            dataset_version=2,
            limit=5,
        )
    )
    assert result.hit_count == 2
    assert {b.by["experiment_id"]: b.metrics["score_value"] for b in result.buckets} == {
        "e1": 0.25,
        "e2": None,
    }
    (request,) = events_fake.requests_to("analytics")
    assert request.json["data"]["attributes"]["aggregate"]["time"] == {"from": 2_500, "to": 4_000}


async def test_without_group_by_there_is_one_bucket(
    events_fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    result = await make_client(events_fake).aggregate(
        dd.AggregateQuery(["count"], ["experiment-evals"], "*")
    )
    assert result.buckets == [dd.Bucket(by={}, metrics={"count": 4})]
    assert result.id


async def test_seeded_data_aggregates_per_experiment(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    result = await client.aggregate(
        dd.AggregateQuery(
            [dd.Compute("score_value", name="avg")],
            ["experiment-evals"],
            "*",
            group_by="experiment_id",
        )
    )
    expected: dict[str, list[float]] = {}
    for event in fake.eval_events:
        expected.setdefault(event["experiment_id"], [])
        if event["score_value"] is not None:
            expected[event["experiment_id"]].append(event["score_value"])
    got = {b.by["experiment_id"]: b.metrics["avg"] for b in result.buckets}
    assert got.keys() == expected.keys()
    for key, scores in expected.items():
        assert got[key] == (pytest.approx(mean(scores)) if scores else None)


async def test_server_side_400_carries_the_pointer(
    events_fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(events_fake)
    with pytest.raises(dd.BadRequestError) as info:
        await client.aggregate(dd.AggregateQuery(["score_value"], ["no-such-index"], "*"))
    error = info.value
    assert error.status == 400
    assert error.errors[0].source is not None
    assert error.errors[0].source.pointer == "/data/attributes/aggregate/indexes/0"
    assert "/data/attributes/aggregate/indexes/0" in str(error)
    assert len(events_fake.requests) == 1  # 400 is never retried


async def test_not_a_query_is_a_type_error(
    events_fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    with pytest.raises(TypeError, match="AggregateQuery"):
        await make_client(events_fake).aggregate({"compute": []})  # type: ignore[arg-type]
    assert events_fake.requests == []
