"""``POST /api/v2/llm-obs/v1/experimentation/analytics``: body validation and aggregation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeGuard

import attrs

from ddllmobs_async.testing._jsonapi import ApiError
from ddllmobs_async.testing._route import Call, FakeData, Route
from ddllmobs_async.testing._search import Event, Predicate, compile_query, lookup

ANALYTICS_PATH = "/api/v2/llm-obs/v1/experimentation/analytics"
"""Path of the experimentation analytics endpoint (``POST``)."""

KNOWN_INDEXES = frozenset({"experiment-evals"})
_AGGREGATE = "/data/attributes/aggregate"
_INT32_MAX = 2_147_483_647

MetricKeys = Literal["alias", "metric"]
"""How a bucket keys a computed value: by the compute's alias (its metric name if it has
none), or always by the metric name. The API reference shows both."""


@attrs.frozen
class Compute:
    """One requested metric and its alias (``name``), if any."""

    metric: str
    name: str | None

    def key(self, metric_keys: MetricKeys) -> str:
        """The key of this compute's value in a bucket."""
        return self.name or self.metric if metric_keys == "alias" else self.metric


@attrs.frozen
class AnalyticsQuery:
    """A validated aggregation request."""

    compute: tuple[Compute, ...]
    group_by: tuple[str, ...]
    search: Predicate
    time_range: tuple[int, int] | None
    limit: int | None
    dataset_version: int | None

    def selects(self, event: Event) -> bool:
        """Return whether ``event`` matches the search, time range and dataset version."""
        if self.time_range is not None:
            timestamp = event.get("timestamp")
            if not isinstance(timestamp, int):
                return False
            if not self.time_range[0] <= timestamp <= self.time_range[1]:
                return False
        if self.dataset_version is not None and event.get("dataset_version") != (
            self.dataset_version
        ):
            return False
        return self.search(event)


# --------------------------------------------------------------------------- validation


def _bad(pointer: str, detail: str) -> ApiError:
    return ApiError(400, detail, pointer=pointer)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(parent: Mapping[str, Any], name: str, pointer: str) -> Mapping[str, Any]:
    if name not in parent or parent[name] is None:
        raise _bad(pointer, f"Missing required attribute '{name}' in body.")
    value = parent[name]
    if not isinstance(value, dict):
        raise _bad(pointer, f"'{name}' must be an object.")
    return value


def _non_empty_list(parent: Mapping[str, Any], name: str, pointer: str) -> list[Any]:
    value = parent.get(name)
    if not isinstance(value, list) or not value:
        raise _bad(pointer, f"'{name}' must be a non-empty array.")
    return value


def parse_analytics_body(raw: bytes) -> AnalyticsQuery:
    """Validate an analytics request body.

    Raises:
        ApiError: 400 whose ``source.pointer`` is the JSON pointer of the bad member.
    """
    try:
        document = json.loads(raw)
    except ValueError:
        raise _bad("", "Request body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise _bad("", "Request body must be a JSON object.")
    data = _object(document, "data", "/data")
    if data.get("type") != "experimentation":
        raise _bad("/data/type", "'type' must be 'experimentation'.")
    attributes = _object(data, "attributes", "/data/attributes")
    aggregate = _object(attributes, "aggregate", _AGGREGATE)
    compute = _compute(aggregate)
    _check_indexes(aggregate)
    search = _search(aggregate)
    time_range = _time_range(aggregate)
    limit = _limit(aggregate)
    return AnalyticsQuery(
        compute=compute,
        search=search,
        time_range=time_range,
        limit=limit,
        group_by=_group_by(aggregate),
        dataset_version=_dataset_version(aggregate),
    )


def _compute(aggregate: Mapping[str, Any]) -> tuple[Compute, ...]:
    pointer = f"{_AGGREGATE}/compute"
    computes = []
    for i, item in enumerate(_non_empty_list(aggregate, "compute", pointer)):
        if not isinstance(item, dict):
            raise _bad(f"{pointer}/{i}", "Each compute must be an object.")
        metric = item.get("metric")
        if not isinstance(metric, str) or not metric:
            raise _bad(f"{pointer}/{i}/metric", "Missing required attribute 'metric'.")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise _bad(f"{pointer}/{i}/name", "'name' must be a string.")
        computes.append(Compute(metric=metric, name=name or None))
    return tuple(computes)


def _check_indexes(aggregate: Mapping[str, Any]) -> None:
    pointer = f"{_AGGREGATE}/indexes"
    for i, index in enumerate(_non_empty_list(aggregate, "indexes", pointer)):
        if index not in KNOWN_INDEXES:
            raise _bad(f"{pointer}/{i}", f"Unknown index {index!r}.")


def _search(aggregate: Mapping[str, Any]) -> Predicate:
    search = _object(aggregate, "search", f"{_AGGREGATE}/search")
    query = search.get("query")
    if not isinstance(query, str):
        raise _bad(f"{_AGGREGATE}/search/query", "'query' must be a string.")
    return compile_query(query)


def _time_range(aggregate: Mapping[str, Any]) -> tuple[int, int] | None:
    if aggregate.get("time") is None:
        return None
    time = _object(aggregate, "time", f"{_AGGREGATE}/time")
    bounds: list[int] = []
    for name in ("from", "to"):
        value = time.get(name)
        if not _is_int(value):
            raise _bad(f"{_AGGREGATE}/time/{name}", f"'{name}' must be an integer (epoch ms).")
        bounds.append(int(value))
    if bounds[0] > bounds[1]:
        raise _bad(f"{_AGGREGATE}/time", "'from' must not be after 'to'.")
    return (bounds[0], bounds[1])


def _limit(aggregate: Mapping[str, Any]) -> int | None:
    limit = aggregate.get("limit")
    if limit is None:
        return None
    if not _is_int(limit) or not 1 <= limit <= _INT32_MAX:
        raise _bad(f"{_AGGREGATE}/limit", "'limit' must be a positive 32-bit integer.")
    return int(limit)


def _group_by(aggregate: Mapping[str, Any]) -> tuple[str, ...]:
    pointer = f"{_AGGREGATE}/group_by"
    group_by = aggregate.get("group_by")
    if group_by is None:
        return ()
    if not isinstance(group_by, list):
        raise _bad(pointer, "'group_by' must be an array.")
    fields = []
    for i, item in enumerate(group_by):
        field = item.get("field") if isinstance(item, dict) else None
        if not isinstance(field, str) or not field:
            raise _bad(f"{pointer}/{i}/field", "Missing required attribute 'field'.")
        fields.append(field)
    return tuple(fields)


def _dataset_version(aggregate: Mapping[str, Any]) -> int | None:
    version = aggregate.get("dataset_version")
    if version is None:
        return None
    if not _is_int(version):
        raise _bad(f"{_AGGREGATE}/dataset_version", "'dataset_version' must be an integer.")
    return int(version)


# --------------------------------------------------------------------------- aggregation


def aggregate(
    events: Iterable[Event], query: AnalyticsQuery, metric_keys: MetricKeys = "alias"
) -> dict[str, Any]:
    """Run ``query`` over ``events`` and return the full response document."""
    matched = [event for event in events if query.selects(event)]
    buckets = _buckets(matched, query.group_by)
    values = [
        {
            "by": by,
            "metrics": {c.key(metric_keys): _metric(c.metric, members) for c in query.compute},
        }
        for by, members in buckets
    ]
    if query.limit is not None:
        values = values[: query.limit]
    return {
        "data": {
            "id": str(uuid.uuid4()),
            "type": "experimentation",
            "attributes": {"hit_count": len(matched), "result": {"values": values}},
        }
    }


def _buckets(
    events: Sequence[Event], fields: tuple[str, ...]
) -> list[tuple[dict[str, Any], list[Event]]]:
    if not fields:
        return [({}, list(events))]
    groups: dict[str, tuple[dict[str, Any], list[Event]]] = {}
    for event in events:
        by = {field: lookup(event, field) for field in fields}
        key = json.dumps(list(by.values()), sort_keys=True, default=str)
        groups.setdefault(key, (by, []))[1].append(event)
    return sorted(groups.values(), key=lambda group: [_order(v) for v in group[0].values()])


def _order(value: object) -> tuple[int, float, str]:
    """Sort key putting nulls first, then numbers, then strings, then anything else."""
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, int | float):
        return (1, float(value), "")
    if isinstance(value, str):
        return (2, 0.0, value)
    return (3, 0.0, json.dumps(value, sort_keys=True, default=str))


def _metric(metric: str, events: Sequence[Event]) -> float | int | None:
    if metric == "count":
        return len(events)
    numbers = [
        value
        for value in (lookup(event, metric) for event in events)
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    return sum(numbers) / len(numbers) if numbers else None


def _aggregate(data: FakeData, call: Call) -> dict[str, Any]:
    return aggregate(data.events, parse_analytics_body(call.body), data.metric_keys)


ANALYTICS_ROUTE = Route(
    endpoint="analytics",
    method="POST",
    path=ANALYTICS_PATH,
    limit_name="llm_obs_experimentation_analytics",
    handle=_aggregate,
)
