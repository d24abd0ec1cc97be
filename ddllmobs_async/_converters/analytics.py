"""``POST /api/v2/llm-obs/v1/experimentation/analytics``: the query body out, the result in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cattrs.gen import make_dict_unstructure_fn, override

from ddllmobs_async._converters import converter, require
from ddllmobs_async.errors import ResponseValidationError
from ddllmobs_async.models import AggregateQuery, AggregateResult, Bucket, Compute, TimeRange
from ddllmobs_async.models._analytics import to_epoch_ms

converter.register_unstructure_hook_func(
    lambda t: t == datetime | int, lambda value: to_epoch_ms(value)
)
converter.register_unstructure_hook(
    Compute, make_dict_unstructure_fn(Compute, converter, _cattrs_omit_if_default=True)
)
converter.register_unstructure_hook(
    TimeRange,
    make_dict_unstructure_fn(
        TimeRange, converter, start=override(rename="from"), end=override(rename="to")
    ),
)
converter.register_unstructure_hook(
    AggregateQuery,
    make_dict_unstructure_fn(
        AggregateQuery, converter, _cattrs_omit_if_default=True, query=override(omit=True)
    ),
)


def unstructure_aggregate_query(query: AggregateQuery) -> dict[str, Any]:
    """An :class:`AggregateQuery` -> the JSON:API request body (unset optionals omitted)."""
    aggregate: dict[str, Any] = converter.unstructure(query, AggregateQuery)
    aggregate["search"] = {"query": query.query}
    return {"data": {"type": "experimentation", "attributes": {"aggregate": aggregate}}}


def structure_aggregate_result(body: Any, computes: Sequence[Compute] = ()) -> AggregateResult:
    """A decoded analytics body -> :class:`AggregateResult`; ``computes``: the query's."""
    resource = require(body, "data", "$", dict)
    identifier = require(resource, "id", "$.data", str)
    attributes = require(resource, "attributes", "$.data", dict)
    hit_count = require(attributes, "hit_count", "$.data.attributes", int)
    result = require(attributes, "result", "$.data.attributes", dict)
    values = require(result, "values", "$.data.attributes.result", list)
    known = tuple(computes)
    buckets = [_structure_bucket(value, i, known) for i, value in enumerate(values)]
    return AggregateResult(id=identifier, hit_count=hit_count, buckets=buckets)


def _structure_bucket(value: Any, index: int, computes: tuple[Compute, ...]) -> Bucket:
    by = value.get("by") if isinstance(value, dict) else None
    metrics = value.get("metrics") if isinstance(value, dict) else None
    if isinstance(metrics, dict) and (by is None or isinstance(by, dict)):
        return Bucket({} if by is None else by, metrics, computes)  # positional: 27% cheaper
    # Only a malformed bucket pays for its path (a result holds many buckets).
    path = f"$.data.attributes.result.values[{index}]"
    require(value, "metrics", path, dict)
    raise ResponseValidationError(f"expected object @ {path}.by", path=f"{path}.by")
