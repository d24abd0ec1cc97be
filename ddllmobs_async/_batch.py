"""Batch helpers: many lookups or aggregates at once, in input order, under the client's bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from ddllmobs_async._constants import IDS_PER_REQUEST
from ddllmobs_async.errors import LLMObsError
from ddllmobs_async.models import (
    AggregateQuery,
    AggregateResult,
    Compute,
    Experiment,
    ExperimentComparison,
    ExperimentLookup,
    TimeRange,
)

T = TypeVar("T")
ListChunk = Callable[[list[str]], AsyncIterator[Experiment]]
Aggregate = Callable[[AggregateQuery], Awaitable[AggregateResult]]


def unique_ids(ids: Iterable[str]) -> list[str]:
    """Validated ids, duplicates dropped, first-seen order kept."""
    if isinstance(ids, str):
        ids = [ids]
    result = list(dict.fromkeys(ids))
    for value in result:
        if not isinstance(value, str) or not value:
            raise ValueError(f"ids must contain non-empty strings, got {value!r}")
    return result


async def get_experiments(ids: Sequence[str], list_chunk: ListChunk) -> ExperimentLookup:
    """Fetch ``ids`` in chunks of ``IDS_PER_REQUEST`` concurrently; keep the input order."""
    chunks = [list(ids[i : i + IDS_PER_REQUEST]) for i in range(0, len(ids), IDS_PER_REQUEST)]

    async def fetch(chunk: list[str]) -> list[Experiment]:
        return [experiment async for experiment in list_chunk(chunk)]

    found: dict[str, Experiment] = {}
    for experiments in await asyncio.gather(*(fetch(chunk) for chunk in chunks)):
        found.update((experiment.id, experiment) for experiment in experiments)
    return ExperimentLookup(
        experiments=[found[i] for i in ids if i in found],
        missing=[i for i in ids if i not in found],
    )


async def run_bounded(
    calls: Sequence[Callable[[], Awaitable[T]]], *, concurrency: int | None, return_exceptions: bool
) -> list[T | LLMObsError]:
    """Await ``calls`` with at most ``concurrency`` at once; results in input order."""
    limit = asyncio.Semaphore(concurrency or max(len(calls), 1))

    async def one(call: Callable[[], Awaitable[T]]) -> T | LLMObsError:
        async with limit:
            try:
                return await call()
            except LLMObsError as error:
                if return_exceptions:
                    return error
                raise

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:  # the first failure cancels what is still queued
            task.cancel()


async def compare_experiments(
    experiment_ids: Sequence[str],
    aggregate: Aggregate,
    *,
    baseline_id: str,
    metric: str,
    index: str,
    group_by: str,
    time: TimeRange | None,
) -> ExperimentComparison:
    """One aggregate per experiment (baseline included), grouped by ``group_by``."""
    everyone = [baseline_id, *(i for i in experiment_ids if i != baseline_id)]
    compute = Compute(metric, name="value")

    async def scores_of(experiment_id: str) -> dict[str, Any]:
        query = AggregateQuery(
            [compute], [index], f"@experiment_id:{experiment_id}", group_by=[group_by], time=time
        )
        result = await aggregate(query)
        return {str(b.by.get(group_by)): b.metrics.get("value") for b in result.buckets}

    results = await asyncio.gather(*(scores_of(i) for i in everyone))
    return ExperimentComparison(
        baseline_id=baseline_id,
        metric=metric,
        group_by=group_by,
        baseline=results[0],
        scores=dict(zip(everyone[1:], results[1:], strict=True)),
    )
