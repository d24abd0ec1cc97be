"""Analytics: the aggregate query you build and the result the server sends back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from ddllmobs_async._constants import MAX_INT32, MAX_INT64

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.tzinfo.utcoffset(value) is not None


def _check_time_point(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, datetime | int):
        raise TypeError(f"TimeRange.{name} must be an aware datetime or epoch milliseconds (int)")
    if isinstance(value, datetime) and not _is_aware(value):
        raise ValueError(
            f"TimeRange.{name} is a naive datetime; pass an aware one, e.g. tzinfo=timezone.utc"
        )
    milliseconds = to_epoch_ms(value)
    if milliseconds < 0:
        raise ValueError(f"TimeRange.{name} must not be before 1970 (epoch 0), got {value!r}")
    if milliseconds > MAX_INT64:
        raise ValueError(f"TimeRange.{name} must fit in int64 milliseconds, got {value!r}")


def to_epoch_ms(value: datetime | int) -> int:
    """Epoch milliseconds of an aware datetime (exact: no float), or an int as it is."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(milliseconds=1)
    return value


@attrs.frozen
class TimeRange:
    """Time window of an aggregate query: aware datetimes or epoch milliseconds.

    Sent as ``{"from": ms, "to": ms}``. ``start`` must not be after ``end``.

    Attributes:
        start: Start of the window, an aware datetime or epoch milliseconds (an int), not
            before 1970; sent as ``from``.
        end: End of the window, in the same forms; sent as ``to``.
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
        if not isinstance(duration, timedelta):
            raise TypeError(f"TimeRange.last: duration must be a timedelta, got {duration!r}")
        if duration < timedelta(0):
            raise ValueError("TimeRange.last: duration must not be negative")
        end = now or datetime.now(timezone.utc)
        try:
            start = end - duration
        except OverflowError:
            raise ValueError(f"TimeRange.last: duration {duration} reaches before year 1") from None
        return cls(start=start, end=end)


def _nonempty_str(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


@attrs.frozen
class Compute:
    """One metric to compute, e.g. ``Compute("score_value", name="avg_faithfulness")``.

    ``name`` is the alias the metric is reported under in :attr:`Bucket.metrics`; without it
    the metric's own name is used.

    Attributes:
        metric: The metric to compute, e.g. ``score_value`` (average score) or ``count``
            (number of events); a non-empty string.
        name: Alias of the result in :attr:`Bucket.metrics`; ``None`` to report it under
            ``metric``.
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
    """A field to group results by, e.g. ``GroupBy("span_id")``.

    Attributes:
        field: Name of the field, e.g. ``experiment_id`` or ``label``; a non-empty string.
    """

    field: str

    def __attrs_post_init__(self) -> None:
        _nonempty_str("GroupBy.field", self.field)


def _items(name: str, value: Any, single: type | tuple[type, ...]) -> list[Any]:
    """``value`` as a list: one ``single`` item, or any iterable (not a mapping) of items."""
    if isinstance(value, single):
        return [value]
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise TypeError(f"AggregateQuery.{name} must be one item or a list of them, got {value!r}")
    return list(value)


def _to_computes(value: Iterable[Compute | str]) -> tuple[Compute, ...]:
    items = _items("compute", value, (Compute, str))
    return tuple(item if isinstance(item, Compute) else Compute(item) for item in items)


def _check_distinct_keys(computes: Sequence[Compute]) -> None:
    """Refuse two computes whose results the server would report under one key."""
    # Both would read one value back, one of them silently wrong.
    seen: set[str] = set()
    for compute in computes:
        if compute.key in seen:
            raise ValueError(
                f"AggregateQuery.compute has two computes reported under {compute.key!r} (a "
                "Compute's name, or its metric when unnamed): give each a distinct name="
            )
        seen.add(compute.key)


def _to_indexes(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(_items("indexes", value, str))


def _to_group_by(value: Iterable[GroupBy | str]) -> tuple[GroupBy, ...]:
    items = _items("group_by", value, (GroupBy, str))
    return tuple(item if isinstance(item, GroupBy) else GroupBy(item) for item in items)


def _check_optional_int(name: str, value: object, minimum: int, maximum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"AggregateQuery.{name} must be an int, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"AggregateQuery.{name} must be between {minimum} and {maximum}")


@attrs.frozen
class AggregateQuery:
    """An analytics aggregation over experimentation data.

    Each argument is kept as the attribute of the same name; ``compute``, ``indexes`` and
    ``group_by`` accept one item or several and are stored as tuples.

    Attributes:
        compute: Metrics to compute, as a tuple of :class:`Compute` (pass ``Compute``
            objects or metric names); at least one.
        indexes: Indexes to query, e.g. ``("experiment-evals",)``; at least one.
        query: Search filter, e.g. ``"@experiment_id:3fd6b5e0-..."`` (``"*"`` for all).
        group_by: Fields to group by, as a tuple of :class:`GroupBy` (pass ``GroupBy``
            objects or field names); ``()`` for a single bucket.
        limit: Maximum number of buckets (1..2147483647); ``None`` for the server's default.
        dataset_version: Only data of this dataset version (>= 0); ``None`` for every
            version.
        time: Only data in this :class:`TimeRange`; ``None`` sends no time range.
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
        _check_distinct_keys(self.compute)
        if not self.indexes:
            raise ValueError("AggregateQuery.indexes needs at least one index")
        for index in self.indexes:
            _nonempty_str("AggregateQuery.indexes[]", index)
        if not isinstance(self.query, str):
            raise TypeError(f"AggregateQuery.query must be a string, got {self.query!r}")
        _check_optional_int("limit", self.limit, 1, MAX_INT32)
        _check_optional_int("dataset_version", self.dataset_version, 0, MAX_INT64)
        if self.time is not None and not isinstance(self.time, TimeRange):
            raise TypeError("AggregateQuery.time must be a TimeRange")


@attrs.frozen
class Bucket:
    """One result bucket: group-by values and computed metrics (a metric may be ``None``).

    The server keys a metric by the compute's alias (``Compute.name``) or by the metric
    name; :meth:`value` reads either.

    Attributes:
        by: This bucket's value of each group-by field; ``{}`` for a query without
            group_by.
        metrics: The computed values, keyed by alias or metric name as the server chose; a
            value may be ``None`` (kept as sent).
        computes: The query's computes when the bucket came from
            :meth:`LLMObsClient.aggregate` (else ``()``): they let :meth:`value` tell an
            ambiguous metric-keyed answer from a plain one. Not compared by ``==``.
    """

    by: dict[str, Any]
    metrics: dict[str, Any]
    computes: tuple[Compute, ...] = attrs.field(default=(), eq=False, repr=False)

    def value(self, compute: Compute | str) -> Any:
        """The value computed for ``compute`` (a :class:`Compute` or a name).

        The alias if the bucket has it, else the metric name.

        Raises:
            KeyError: Neither key is in :attr:`metrics`, or the server keyed by metric name
                while two computes of the query share that metric (the value is ambiguous).
        """
        if isinstance(compute, str):
            compute = next((c for c in self.computes if compute in (c.name, c.metric)), None) or (
                Compute(compute)
            )
        if compute.name is not None and compute.name in self.metrics:
            return self.metrics[compute.name]
        if compute.metric not in self.metrics:
            wanted = " or ".join(
                repr(k) for k in dict.fromkeys((compute.name, compute.metric)) if k
            )
            raise KeyError(f"bucket has no metric {wanted}; it has {sorted(self.metrics)}")
        sharing = [c for c in self.computes if c.metric == compute.metric]
        if compute.name is not None and len(sharing) > 1:
            names = ", ".join(c.key for c in sharing)
            raise KeyError(
                f"the server keyed {compute.metric!r} by metric name, but computes {names} "
                "share that metric: its value is ambiguous; query them separately"
            )
        return self.metrics[compute.metric]


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
