"""Batch helpers: get_experiments, aggregate_many, compare_experiments."""

from __future__ import annotations

from statistics import mean
from typing import Any

import pytest

import ddllmobs_async as dd
from ddllmobs_async import _constants as const
from ddllmobs_async.testing import FakeLLMObs, Fault, make_experiments
from tests.conftest import AggregatesInFlight, ClientFactory


async def test_get_experiments_chunks_keeps_order_and_reports_missing(
    make_client: ClientFactory,
) -> None:
    raw = make_experiments(250, seed=5)
    async with FakeLLMObs(raw) as server:
        client = make_client(server)
        live = [e["id"] for e in raw if e["attributes"]["deleted_at"] is None]
        wanted = [*reversed(live[:230]), "missing-1", live[0], "missing-2"]
        lookup = await client.get_experiments(wanted, project_id=server.project_id)
        assert [e.id for e in lookup.experiments] == list(reversed(live[:230]))
        assert lookup.missing == ["missing-1", "missing-2"]
        assert lookup.by_id[live[5]].id == live[5]
        requests = server.requests_to("experiments")
        assert len(requests) == 3  # 232 unique ids / 100 per request
        assert all(len(r.params("filter[id]")) <= const.IDS_PER_REQUEST for r in requests)


async def test_get_experiments_validates_before_any_request(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    with pytest.raises(ValueError, match="project_id or dataset_id"):
        await client.get_experiments(["a"])
    with pytest.raises(ValueError, match="ids"):
        await client.get_experiments(["a", ""], project_id="p")
    assert fake.requests == []


def query_for(experiment_id: str) -> dd.AggregateQuery:
    return dd.AggregateQuery(
        [dd.Compute("score_value", name="avg")],
        ["experiment-evals"],
        f"@experiment_id:{experiment_id}",
    )


def expected_avg(fake: FakeLLMObs, experiment_id: str) -> Any:
    scores = [
        e["score_value"]
        for e in fake.eval_events
        if e["experiment_id"] == experiment_id and e["score_value"] is not None
    ]
    return pytest.approx(mean(scores)) if scores else None


async def test_aggregate_many_returns_results_in_input_order(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    ids = [e["id"] for e in fake.experiments[:12]]
    results = await client.aggregate_many([query_for(i) for i in ids], concurrency=4)
    for experiment_id, result in zip(ids, results, strict=True):
        assert isinstance(result, dd.AggregateResult)
        assert result.buckets[0].metrics["avg"] == expected_avg(fake, experiment_id)


async def test_aggregate_many_errors_returned_or_raised(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    bad = dd.AggregateQuery(["score_value"], ["no-such-index"], "*")
    good = query_for(fake.experiments[0]["id"])
    results = await client.aggregate_many([good, bad, good], return_exceptions=True)
    assert isinstance(results[0], dd.AggregateResult) and isinstance(results[2], dd.AggregateResult)
    assert isinstance(results[1], dd.BadRequestError)
    with pytest.raises(dd.BadRequestError) as raised:
        await client.aggregate_many([good, good, bad])
    assert raised.value.__notes__ == ["raised for queries[2]"]  # which input to fix or retry


async def test_aggregate_many_concurrency_is_bounded(make_client: ClientFactory) -> None:
    async with FakeLLMObs.seeded(n_experiments=5, latency=0.05) as server:
        client = make_client(server)
        in_flight = AggregatesInFlight(client)
        await client.aggregate_many([query_for("x")] * 12, concurrency=3)
        assert in_flight.peak == 3


async def test_aggregate_many_rejects_bad_input_before_requests(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    with pytest.raises(TypeError, match=r"queries\[1\]"):
        await client.aggregate_many([query_for("x"), "nope"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="concurrency"):
        await client.aggregate_many([query_for("x")], concurrency=0)
    assert fake.requests == []


async def test_compare_experiments_against_a_baseline(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    baseline, *runs = [e["id"] for e in fake.experiments[:3]]
    comparison = await client.compare_experiments(runs, baseline_id=baseline)

    def per_label(experiment_id: str) -> dict[str, Any]:
        labels: dict[str, list[float]] = {}
        for event in fake.eval_events:
            if event["experiment_id"] == experiment_id:
                labels.setdefault(event["label"], [])
                if event["score_value"] is not None:
                    labels[event["label"]].append(event["score_value"])
        return {label: (mean(v) if v else None) for label, v in labels.items()}

    assert comparison.baseline == pytest.approx(per_label(baseline))
    for run in runs:
        assert comparison.scores[run] == pytest.approx(per_label(run))
        for label, score in per_label(run).items():
            base = per_label(baseline).get(label)
            expected = None if score is None or base is None else pytest.approx(score - base)
            assert comparison.delta(run, label) == expected
    assert set(comparison.deltas) == set(runs)
    implicit = await client.compare_experiments([baseline, *runs])  # first id is the baseline
    assert implicit == comparison


async def test_results_build_positionally() -> None:
    bucket = dd.Bucket({"span_id": "s"}, {"avg": None})
    assert dd.AggregateResult("r", 1, [bucket]).buckets[0].by == {"span_id": "s"}
    assert dd.ExperimentPage([], None).next_cursor is None


async def test_retried_aggregates_in_a_batch_still_return_every_result(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    fake.inject(
        Fault.status(503), Fault.rate_limited(reset=0.05), Fault.reset(), endpoint="analytics"
    )
    ids = [e["id"] for e in fake.experiments[:6]]
    results = await client.aggregate_many([query_for(i) for i in ids])
    assert [r.buckets[0].metrics["avg"] for r in results if isinstance(r, dd.AggregateResult)] == [
        expected_avg(fake, i) for i in ids
    ]
