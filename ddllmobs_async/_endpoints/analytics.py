"""``POST /api/v2/llm-obs/v1/experimentation/analytics``: aggregates, one or many at once."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Literal, overload

from ddllmobs_async import _batch
from ddllmobs_async._constants import ANALYTICS_PATH
from ddllmobs_async._converters.analytics import (
    structure_aggregate_result,
    unstructure_aggregate_query,
)
from ddllmobs_async._endpoints._base import Endpoints
from ddllmobs_async._json import encode_body
from ddllmobs_async._validation import check_count
from ddllmobs_async.errors import LLMObsError
from ddllmobs_async.models import AggregateQuery, AggregateResult, ExperimentComparison, TimeRange


class AnalyticsEndpoints(Endpoints):
    """Aggregate eval metrics over experimentation data."""

    async def aggregate(self, query: AggregateQuery) -> AggregateResult:
        """Run an analytics aggregation over experimentation data.

        Each bucket's :meth:`Bucket.value` reads a compute's value whether the server keyed
        it by alias or by metric name.

        Raises:
            TypeError: ``query`` is not an :class:`AggregateQuery`.
            LLMObsError: Any failure after retries.
        """
        if not isinstance(query, AggregateQuery):
            raise TypeError(f"query must be an AggregateQuery, got {type(query).__name__}")
        return await self._session.request_json(
            "POST",
            ANALYTICS_PATH,
            functools.partial(structure_aggregate_result, computes=query.compute),
            endpoint=ANALYTICS_PATH,
            payload=encode_body(unstructure_aggregate_query(query)),
        )

    @overload
    async def aggregate_many(
        self,
        queries: Iterable[AggregateQuery],
        *,
        concurrency: int | None = None,
        return_exceptions: Literal[False] = False,
    ) -> list[AggregateResult]: ...

    @overload
    async def aggregate_many(
        self,
        queries: Iterable[AggregateQuery],
        *,
        concurrency: int | None = None,
        return_exceptions: bool,
    ) -> list[AggregateResult | LLMObsError]: ...

    async def aggregate_many(
        self,
        queries: Iterable[AggregateQuery],
        *,
        concurrency: int | None = None,
        return_exceptions: bool = False,
    ) -> Sequence[AggregateResult | LLMObsError]:
        """Run many aggregates concurrently; results in the order of ``queries``.

        Args:
            queries: The queries (validated before any request is sent).
            concurrency: At most this many of these queries in flight (the client's
                ``max_concurrency`` bounds it too).
            return_exceptions: Put each failed query's :class:`LLMObsError` in its slot
                instead of raising the first one (the rest are then cancelled).

        Raises:
            LLMObsError: Without ``return_exceptions``, the first failure; a note on it
                (``raised for queries[i]``, in ``__notes__`` and the traceback) names the
                query.
        """
        batch = list(queries)
        for position, query in enumerate(batch):
            if not isinstance(query, AggregateQuery):
                raise TypeError(f"queries[{position}] must be an AggregateQuery")
        if concurrency is not None:
            check_count("concurrency", concurrency)
        calls = [functools.partial(self.aggregate, query) for query in batch]
        return await _batch.run_bounded(
            calls, concurrency=concurrency, return_exceptions=return_exceptions, argument="queries"
        )

    async def compare_experiments(
        self,
        experiment_ids: Iterable[str],
        *,
        baseline_id: str | None = None,
        metric: str = "score_value",
        index: str = "experiment-evals",
        group_by: str = "label",
        time: TimeRange | None = None,
    ) -> ExperimentComparison:
        """How did these runs score against their baseline?

        Runs one aggregate per experiment (and one for the baseline), averaging ``metric``
        per ``group_by`` value (by default per eval ``label``), and returns the scores side
        by side with :meth:`ExperimentComparison.delta` to read differences. A run's
        baseline is usually its :attr:`Experiment.parent_experiment_id`; without
        ``baseline_id`` the first of ``experiment_ids`` is the baseline.

        Raises:
            ValueError: An id that is not a plain id (letters, digits, ``-``, ``_``), before
                any request: ids are pasted into the search query.
        """
        runs = _batch.unique_ids(experiment_ids, "experiment_ids")
        for run in runs:
            _batch.check_plain_id("experiment_ids", run)
        if baseline_id is None:
            if not runs:
                raise ValueError("experiment_ids must name at least one experiment")
            baseline_id, *runs = runs
        _batch.check_plain_id("baseline_id", baseline_id)
        return await _batch.compare_experiments(
            runs,
            self.aggregate,
            baseline_id=baseline_id,
            metric=metric,
            index=index,
            group_by=group_by,
            time=time,
        )
