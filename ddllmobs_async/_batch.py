"""Batch helpers: many lookups or aggregates at once, in input order, under the client's bounds.

Concurrency is structured: every helper runs its calls in a ``TaskGroup``, so when it returns
or raises, nothing it started is still running. A failure raises the first
:class:`LLMObsError` itself, not an ``ExceptionGroup``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import aclosing
from typing import Any, TypeVar, cast

from ddllmobs_async._constants import IDS_PER_REQUEST
from ddllmobs_async.errors import LLMObsError
from ddllmobs_async.models import (
    AggregateQuery,
    AggregateResult,
    Bucket,
    Compute,
    Experiment,
    ExperimentComparison,
    ExperimentLookup,
    TimeRange,
)

T = TypeVar("T")
ListChunk = Callable[[list[str]], AsyncGenerator[Experiment]]
Aggregate = Callable[[AggregateQuery], Awaitable[AggregateResult]]

_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]+")


def unique_ids(ids: Iterable[str], argument: str = "ids") -> list[str]:
    """Validated ids, duplicates dropped, first-seen order kept."""
    if isinstance(ids, str):
        ids = [ids]
    values = list(ids)
    for value in values:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{argument} must contain non-empty strings, got {value!r}")
    return list(dict.fromkeys(values))


def check_plain_id(argument: str, value: object) -> None:
    """An id pasted into a search query must be a plain id (no query syntax can ride along)."""
    if not isinstance(value, str) or not _PLAIN_ID.fullmatch(value):
        raise ValueError(
            f"{argument} must hold plain ids (letters, digits, '-', '_'), got {value!r}"
        )


async def run_all(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Await ``coroutines`` concurrently; results in order. The first failure cancels the
    rest, and is raised itself once they have all ended.

    A failure is not left to the ``TaskGroup``: Python 3.11's group then ignores a
    cancellation of the caller arriving while it winds down, and raises the failure instead.
    Here the group only ever sees cancelled children, so the caller's cancellation wins.
    """
    failures: list[Exception] = []
    tasks: list[asyncio.Task[T | None]] = []

    async def first_failure_stops_the_rest(coroutine: Coroutine[Any, Any, T]) -> T | None:
        try:
            return await coroutine
        except Exception as error:
            failures.append(error)
            current = asyncio.current_task()
            for task in tasks:
                if task is not current:
                    task.cancel()
            return None
        finally:
            coroutine.close()  # one cancelled before it started is closed, not left unawaited

    async with asyncio.TaskGroup() as group:
        for coroutine in coroutines:
            tasks.append(group.create_task(first_failure_stops_the_rest(coroutine)))
    if failures:
        raise failures[0]
    return [cast(T, task.result()) for task in tasks]


async def get_experiments(ids: Sequence[str], list_chunk: ListChunk) -> ExperimentLookup:
    """Fetch ``ids`` in chunks of ``IDS_PER_REQUEST`` concurrently; keep the input order."""
    chunks = [list(ids[i : i + IDS_PER_REQUEST]) for i in range(0, len(ids), IDS_PER_REQUEST)]

    async def fetch(chunk: list[str]) -> list[Experiment]:
        async with aclosing(list_chunk(chunk)) as experiments:
            return [experiment async for experiment in experiments]

    found: dict[str, Experiment] = {}
    for experiments in await run_all(fetch(chunk) for chunk in chunks):
        found.update((experiment.id, experiment) for experiment in experiments)
    return ExperimentLookup(
        experiments=[found[i] for i in ids if i in found],
        missing=[i for i in ids if i not in found],
    )


async def run_bounded(
    calls: Sequence[Callable[[], Awaitable[T]]],
    *,
    concurrency: int | None,
    return_exceptions: bool,
    argument: str,
) -> list[T | LLMObsError]:
    """Await ``calls`` with at most ``concurrency`` at once; results in input order. A
    failure raised carries a note naming its input, ``argument[position]``."""
    limit = asyncio.Semaphore(concurrency or max(len(calls), 1))

    async def one(position: int, call: Callable[[], Awaitable[T]]) -> T | LLMObsError:
        async with limit:
            try:
                return await call()
            except LLMObsError as error:
                if return_exceptions:
                    return error
                error.add_note(f"raised for {argument}[{position}]")
                raise

    return await run_all(one(position, call) for position, call in enumerate(calls))


def _score(bucket: Bucket, compute: Compute) -> Any:
    try:
        return bucket.value(compute)
    except KeyError:
        return None  # the server sent no value for this group


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
        return {str(b.by.get(group_by)): _score(b, compute) for b in result.buckets}

    results = await run_all(scores_of(i) for i in everyone)
    return ExperimentComparison(
        baseline_id=baseline_id,
        metric=metric,
        group_by=group_by,
        baseline=results[0],
        scores=dict(zip(everyone[1:], results[1:], strict=True)),
    )
