"""Typed models for the two endpoints: attrs classes, converted by ``_converters``.

Response models (:class:`Experiment`, :class:`AggregateResult`...) are built by the client;
request models (:class:`AggregateQuery`, :class:`Compute`...) are built by you and validated
on construction, so an invalid query fails before any request, naming the argument.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from ddllmobs_async._constants import MAX_INT32

__all__ = [
    "AggregateQuery",
    "AggregateResult",
    "Author",
    "Bucket",
    "Compute",
    "Experiment",
    "ExperimentComparison",
    "ExperimentLookup",
    "ExperimentPage",
    "ExperimentStatus",
    "GroupBy",
    "TimeRange",
]


class ExperimentStatus(enum.StrEnum):
    """Execution status of an experiment.

    The API is in preview: a status this enum does not know yet is kept as the plain string
    on :attr:`Experiment.status`, never an error.
    """

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@attrs.frozen(kw_only=True)
class Author:
    """The user who created an experiment (only with ``include_user_data=True``)."""

    id: str | None = None
    name: str | None = None
    handle: str | None = None
    email: str | None = None
    icon: str | None = None


@attrs.frozen(kw_only=True)
class Experiment:
    """One experiment run, as listed by ``GET /api/v2/llm-obs/v1/experiments``.

    Timestamps are timezone-aware UTC datetimes (Datadog's nanoseconds are truncated to
    microseconds). ``config`` and ``metadata`` are ``{}`` when the server sends ``null``.
    """

    id: str
    name: str
    description: str | None
    project_id: str
    dataset_id: str
    config: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    dataset_version: int | None = None
    dataset_name: str | None = None
    experiment: str | None = None
    aggregate_data: dict[str, Any] | None = None
    author: Author | None = None
    status: ExperimentStatus | str | None = None
    run_count: int | None = None
    error: str | None = None
    parent_experiment_id: str | None = None
    deleted_at: datetime | None = None


@attrs.frozen
class ExperimentPage:
    """One page of experiments, for jobs that checkpoint between pages.

    Attributes:
        experiments: The page's experiments, newest first.
        next_cursor: Cursor of the next page, ``None`` on the last page. Save it after
            processing the page; resume later with ``cursor=next_cursor``.
        cursor: The cursor that fetched this page (``None`` for the first page).
    """

    experiments: list[Experiment]
    next_cursor: str | None
    cursor: str | None = None


def _is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.tzinfo.utcoffset(value) is not None


def _check_time_point(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, datetime | int):
        raise TypeError(f"TimeRange.{name} must be an aware datetime or epoch milliseconds (int)")
    if isinstance(value, datetime) and not _is_aware(value):
        raise ValueError(
            f"TimeRange.{name} is a naive datetime; pass an aware one, e.g. tzinfo=timezone.utc"
        )
    if isinstance(value, int) and value < 0:
        raise ValueError(f"TimeRange.{name} must be epoch milliseconds >= 0, got {value}")


def to_epoch_ms(value: datetime | int) -> int:
    """Epoch milliseconds of an aware datetime (or of an int already in milliseconds)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


@attrs.frozen
class TimeRange:
    """Time window of an aggregate query: aware datetimes or epoch milliseconds.

    Sent as ``{"from": ms, "to": ms}``. ``start`` must not be after ``end``.
    """

    start: datetime | int
    end: datetime | int

    def __attrs_post_init__(self) -> None:
        _check_time_point("start", self.start)
        _check_time_point("end", self.end)
        if to_epoch_ms(self.start) > to_epoch_ms(self.end):
            raise ValueError(f"TimeRange.start ({self.start}) is after end ({self.end})")

    @classmethod
    def last(cls, duration: timedelta, *, now: datetime | None = None) -> TimeRange:
        """The window of ``duration`` ending now (or at ``now``).

        Example: ``TimeRange.last(timedelta(hours=1))``.
        """
        if duration < timedelta(0):
            raise ValueError("TimeRange.last: duration must not be negative")
        end = now or datetime.now(timezone.utc)
        return cls(start=end - duration, end=end)


def _nonempty_str(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


@attrs.frozen
class Compute:
    """One metric to compute, e.g. ``Compute("score_value", name="avg_faithfulness")``.

    ``name`` is the alias the metric is reported under in :attr:`Bucket.metrics`; without it
    the metric's own name is used.
    """

    metric: str
    name: str | None = None

    def __attrs_post_init__(self) -> None:
        _nonempty_str("Compute.metric", self.metric)
        if self.name is not None:
            _nonempty_str("Compute.name", self.name)

    @property
    def key(self) -> str:
        """The key this computation's value has in :attr:`Bucket.metrics`."""
        return self.name or self.metric


@attrs.frozen
class GroupBy:
    """A field to group results by, e.g. ``GroupBy("span_id")``."""

    field: str

    def __attrs_post_init__(self) -> None:
        _nonempty_str("GroupBy.field", self.field)


def _to_computes(value: Iterable[Compute | str]) -> tuple[Compute, ...]:
    if isinstance(value, Compute | str):
        value = [value]
    return tuple(item if isinstance(item, Compute) else Compute(item) for item in value)


def _to_indexes(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _to_group_by(value: Iterable[GroupBy | str]) -> tuple[GroupBy, ...]:
    if isinstance(value, GroupBy | str):
        value = [value]
    return tuple(item if isinstance(item, GroupBy) else GroupBy(item) for item in value)


def _check_optional_int(name: str, value: object, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"AggregateQuery.{name} must be an int, got {value!r}")
    if not minimum <= value <= MAX_INT32:
        raise ValueError(f"AggregateQuery.{name} must be between {minimum} and {MAX_INT32}")


@attrs.frozen
class AggregateQuery:
    """An analytics aggregation over experimentation data.

    Args:
        compute: Metrics to compute (``Compute`` or a metric name); at least one.
        indexes: Indexes to query, e.g. ``["experiment-evals"]``; at least one.
        query: Search filter, e.g. ``"@experiment_id:3fd6b5e0-..."`` (``"*"`` for all).
        group_by: Fields to group by (``GroupBy`` or a field name).
        limit: Maximum number of buckets (1..2147483647).
        dataset_version: Only data of this dataset version.
        time: Only data in this :class:`TimeRange`.
    """

    compute: Sequence[Compute] = attrs.field(converter=_to_computes)
    indexes: Sequence[str] = attrs.field(converter=_to_indexes)
    query: str
    group_by: Sequence[GroupBy] = attrs.field(default=(), converter=_to_group_by, kw_only=True)
    limit: int | None = attrs.field(default=None, kw_only=True)
    dataset_version: int | None = attrs.field(default=None, kw_only=True)
    time: TimeRange | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not self.compute:
            raise ValueError("AggregateQuery.compute needs at least one Compute")
        if not self.indexes:
            raise ValueError("AggregateQuery.indexes needs at least one index")
        for index in self.indexes:
            _nonempty_str("AggregateQuery.indexes[]", index)
        if not isinstance(self.query, str):
            raise TypeError(f"AggregateQuery.query must be a string, got {self.query!r}")
        _check_optional_int("limit", self.limit, 1)
        _check_optional_int("dataset_version", self.dataset_version, 0)
        if self.time is not None and not isinstance(self.time, TimeRange):
            raise TypeError("AggregateQuery.time must be a TimeRange")


@attrs.frozen
class Bucket:
    """One result bucket: group-by values and computed metrics (a metric may be ``None``)."""

    by: dict[str, Any]
    metrics: dict[str, Any]


@attrs.frozen
class AggregateResult:
    """Result of :meth:`LLMObsClient.aggregate`.

    Attributes:
        id: Server-generated identifier of this result.
        hit_count: Events matched by the query before grouping.
        buckets: One bucket per group (a single bucket with ``by == {}`` without group_by).
    """

    id: str
    hit_count: int
    buckets: list[Bucket]


@attrs.frozen(kw_only=True)
class ExperimentLookup:
    """Result of :meth:`LLMObsClient.get_experiments`.

    Attributes:
        experiments: The experiments found, in the order their ids were given.
        missing: Requested ids the API did not return (unknown, or filtered out, e.g.
            soft-deleted), in the order given.
    """

    experiments: list[Experiment]
    missing: list[str]

    @property
    def by_id(self) -> dict[str, Experiment]:
        """The found experiments keyed by id."""
        return {experiment.id: experiment for experiment in self.experiments}


@attrs.frozen(kw_only=True)
class ExperimentComparison:
    """Result of :meth:`LLMObsClient.compare_experiments`: scores per group vs a baseline.

    Attributes:
        baseline_id: The baseline experiment.
        metric: The metric compared (e.g. ``score_value``).
        group_by: The field scores are grouped by (e.g. ``label``: one score per eval).
        baseline: The baseline's score per group.
        scores: Each compared experiment's score per group.
    """

    baseline_id: str
    metric: str
    group_by: str
    baseline: dict[str, Any]
    scores: dict[str, dict[str, Any]]

    def delta(self, experiment_id: str, group: str) -> float | None:
        """``experiment_id``'s score minus the baseline's for ``group`` (None if one is missing)."""
        score = self.scores.get(experiment_id, {}).get(group)
        base = self.baseline.get(group)
        if isinstance(score, int | float) and isinstance(base, int | float):
            return float(score) - float(base)
        return None

    @property
    def deltas(self) -> dict[str, dict[str, float | None]]:
        """Every experiment's difference to the baseline, per group."""
        groups = set(self.baseline).union(*(s.keys() for s in self.scores.values()))
        return {
            experiment_id: {group: self.delta(experiment_id, group) for group in sorted(groups)}
            for experiment_id in self.scores
        }
