"""The cattrs converters: the one place where wire JSON becomes models and back.

Two converters share the same hooks: a fast one (no detailed validation) for the hot path, and
a detailed one that only runs when the fast one failed, to name the offending field path in
the :class:`ResponseValidationError`. orjson is used when installed (``[speedups]`` extra).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import types
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, Union, get_args, get_origin

import cattrs
import cattrs.preconf.json
from cattrs.gen import make_dict_unstructure_fn, override

from ddllmobs_async.errors import APIErrorDetail, APIErrorSource, ResponseValidationError
from ddllmobs_async.models import (
    AggregateQuery,
    AggregateResult,
    Bucket,
    Compute,
    Experiment,
    ExperimentPage,
    ExperimentStatus,
    GroupBy,
    TimeRange,
    to_epoch_ms,
)

JSONLoads = Callable[[bytes | str], Any]
JSONDumps = Callable[[Any], bytes]


def _stdlib_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _json_backend() -> tuple[str, JSONLoads, JSONDumps]:
    if os.environ.get("DDLLMOBS_NO_ORJSON"):
        return "json", json.loads, _stdlib_dumps
    try:
        import orjson
    except ImportError:
        return "json", json.loads, _stdlib_dumps
    return "orjson", orjson.loads, orjson.dumps


JSON_BACKEND, loads, dumps = _json_backend()


def _make_converter(*, detailed: bool) -> cattrs.Converter:
    if JSON_BACKEND == "orjson":
        from cattrs.preconf.orjson import make_converter as make_orjson_converter

        return make_orjson_converter(detailed_validation=detailed)
    return cattrs.preconf.json.make_converter(detailed_validation=detailed)


# --- structure hooks --------------------------------------------------------------------

_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_STATUSES = {status.value: status for status in ExperimentStatus}
_StatusType = ExperimentStatus | str | None
_TimePoint = datetime | int


def parse_datetime(value: Any, _: Any = None) -> datetime:
    """RFC 3339 -> aware datetime; ``Z``, offsets and nanosecond fractions accepted."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 timestamp string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _structure_status(value: Any, _: Any) -> ExperimentStatus | str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a status string, got {type(value).__name__}")
    return _STATUSES.get(value, value)  # unknown statuses stay plain strings


def _structure_object(value: Any, _: Any) -> dict[str, Any]:
    """JSON objects are kept as they are (no per-key copy); ``null`` becomes ``{}``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _structure_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _is_optional(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) in (Union, types.UnionType) and len(args) == 2 and type(None) in args


def _optional_hook(type_: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """``X | None`` -> a hook calling X's hook directly (cattrs' own dispatches per call)."""
    inner = next(arg for arg in get_args(type_) if arg is not type(None))
    structure_inner = converter.get_structure_hook(inner)

    def structure_optional(value: Any, _: Any) -> Any:
        return None if value is None else structure_inner(value, inner)

    return structure_optional


def _configure(converter: cattrs.Converter) -> cattrs.Converter:
    converter.register_structure_hook(datetime, parse_datetime)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook_func(lambda t: t == _StatusType, _structure_status)
    converter.register_structure_hook_func(lambda t: t == dict[str, Any], _structure_object)
    converter.register_unstructure_hook_func(
        lambda t: t == _TimePoint, lambda value: to_epoch_ms(value)
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
            AggregateQuery,
            converter,
            _cattrs_omit_if_default=True,
            query=override(omit=True),
            compute=override(unstruct_hook=_list_of(Compute, converter)),
            indexes=override(unstruct_hook=list),
            group_by=override(unstruct_hook=_list_of(GroupBy, converter)),
        ),
    )
    return converter


def _list_of(item_type: type[Any], converter: cattrs.Converter) -> Callable[[Any], list[Any]]:
    """Unstructure a sequence of ``item_type`` into a list: cattrs' generic iterable hook
    builds it from a generator, which costs more than the handful of items it holds."""
    item_hook = converter.get_unstructure_hook(item_type)

    def unstructure_list(items: Any) -> list[Any]:
        return [item_hook(item) for item in items]

    return unstructure_list


converter = _configure(_make_converter(detailed=False))
# Registered after _configure so the status hook (a three-member union) is unaffected. Only the
# fast converter gets it: the detailed one stays cattrs' reference for error messages.
converter.register_structure_hook_factory(_is_optional, _optional_hook)
_detailed_converter = _configure(_make_converter(detailed=True))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC around the synchronous decode + structuring of one response.

    A page allocates tens of thousands of containers at once; with the GC on, that triggers
    dozens of collections walking the decoded page and the previous page (still alive while
    the consumer reads it). Paused across both steps, the decoded JSON is freed by refcount
    before any collection sees it. Nothing made here is cyclic, so no garbage is missed.
    A GC the caller disabled stays disabled; nested pauses are no-ops.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --- experiments ------------------------------------------------------------------------


def decode_json(body: bytes, *, status: int | None = None) -> Any:
    """Decode a response body, turning any failure into :class:`ResponseValidationError`."""
    try:
        return loads(body)
    except ValueError as err:
        snippet = body[:120].decode("utf-8", "replace").strip() or "(empty body)"
        raise ResponseValidationError(
            f"response body is not JSON: {snippet!r}", status=status
        ) from err


def _require(obj: Any, key: str, path: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ResponseValidationError(
            f"required field missing @ {path}.{key}", path=f"{path}.{key}"
        )
    value = obj[key]
    if not isinstance(value, kind):
        raise ResponseValidationError(
            f"expected {_kind_name(kind)} @ {path}.{key}, got {type(value).__name__}",
            path=f"{path}.{key}",
        )
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {list: "array", dict: "object", str: "string", int: "integer"}.get(k, k.__name__)
        for k in kinds
    )


def structure_experiment(item: Any, *, path: str = "$") -> Experiment:
    """One JSON:API experiment resource (``{"id", "type", "attributes"}``) -> ``Experiment``."""
    identifier = _require(item, "id", path, str)
    attributes = _require(item, "attributes", path, dict)
    fields = {**attributes, "id": identifier}
    try:
        return converter.structure(fields, Experiment)
    except Exception:
        raise _validation_error(fields, Experiment, f"{path}.attributes") from None


def _structure_experiments(items: list[Any]) -> list[Experiment]:
    structure = converter.get_structure_hook(Experiment)
    try:  # fast path: no per-item checks or paths; any failure is explained below
        return [structure({**item["attributes"], "id": item["id"]}, Experiment) for item in items]
    except Exception:
        pass
    return [structure_experiment(item, path=f"$.data[{i}]") for i, item in enumerate(items)]


def structure_experiment_page(data: Any, *, cursor: str | None = None) -> ExperimentPage:
    """A list-experiments response body (decoded, or raw bytes) -> :class:`ExperimentPage`."""
    with gc_paused():
        if isinstance(data, bytes | str):
            # decoded inside the call: the JSON is freed before the GC is resumed
            return _structure_page(decode_json(_as_bytes(data)), cursor)
        return _structure_page(data, cursor)


def _as_bytes(data: bytes | str) -> bytes:
    return data if isinstance(data, bytes) else data.encode()


def _structure_page(data: Any, cursor: str | None) -> ExperimentPage:
    items = _require(data, "data", "$", list)
    experiments = _structure_experiments(items)
    meta = data.get("meta")
    after = meta.get("after") if isinstance(meta, dict) else None
    if after is not None and not isinstance(after, str):
        raise ResponseValidationError(
            f"expected string @ $.meta.after, got {type(after).__name__}", path="$.meta.after"
        )
    return ExperimentPage(experiments=experiments, next_cursor=after or None, cursor=cursor)


def _validation_error(value: Any, cls: type, path: str) -> ResponseValidationError:
    try:
        _detailed_converter.structure(value, cls)
    except cattrs.ClassValidationError as err:
        messages = cattrs.transform_error(err, path=path)
        first = messages[0] if messages else f"invalid {cls.__name__} @ {path}"
        field_path = first.rsplit(" @ ", 1)[-1] if " @ " in first else path
        return ResponseValidationError("; ".join(messages), path=field_path)
    except Exception as err:
        return ResponseValidationError(f"invalid {cls.__name__} @ {path}: {err}", path=path)
    return ResponseValidationError(f"invalid {cls.__name__} @ {path}", path=path)


# --- aggregate --------------------------------------------------------------------------


_unstructure_query = converter.get_unstructure_hook(AggregateQuery)


def unstructure_aggregate_query(query: AggregateQuery) -> dict[str, Any]:
    """An :class:`AggregateQuery` -> the JSON:API request body (unset optionals omitted)."""
    aggregate: dict[str, Any] = _unstructure_query(query)
    aggregate["search"] = {"query": query.query}
    return {"data": {"type": "experimentation", "attributes": {"aggregate": aggregate}}}


def structure_aggregate_result(data: Any) -> AggregateResult:
    """An analytics response body (decoded) -> :class:`AggregateResult`."""
    result = _aggregate_result_fast(data)
    return result if result is not None else _structure_aggregate_result_checked(data)


def _aggregate_result_fast(data: Any) -> AggregateResult | None:
    """The usual well-formed answer, with the cheapest checks; ``None`` for anything else.

    Accepts a subset of what the checked path accepts (plain decoded JSON) and builds the
    same result; everything else (dict subclasses too) goes to the checked path, which
    names the offending field.
    """
    resource = data.get("data") if type(data) is dict else None
    if type(resource) is not dict:
        return None
    identifier = resource.get("id")
    attributes = resource.get("attributes")
    if type(identifier) is not str or type(attributes) is not dict:
        return None
    hit_count = attributes.get("hit_count")
    result = attributes.get("result")
    if not isinstance(hit_count, int) or type(result) is not dict:
        return None
    values = result.get("values")
    if type(values) is not list:
        return None
    buckets = []
    for value in values:
        if type(value) is not dict:
            return None
        by = value.get("by")
        metrics = value.get("metrics")
        if type(metrics) is not dict or not (by is None or type(by) is dict):
            return None
        buckets.append(Bucket(by={} if by is None else by, metrics=metrics))
    return AggregateResult(id=identifier, hit_count=hit_count, buckets=buckets)


def _structure_aggregate_result_checked(data: Any) -> AggregateResult:
    resource = _require(data, "data", "$", dict)
    identifier = _require(resource, "id", "$.data", str)
    attributes = _require(resource, "attributes", "$.data", dict)
    hit_count = _require(attributes, "hit_count", "$.data.attributes", int)
    result = _require(attributes, "result", "$.data.attributes", dict)
    values = _require(result, "values", "$.data.attributes.result", list)
    buckets = [_structure_bucket(value, i) for i, value in enumerate(values)]
    return AggregateResult(id=identifier, hit_count=hit_count, buckets=buckets)


def _structure_bucket(value: Any, index: int) -> Bucket:
    if isinstance(value, dict):  # fast path: the field path is only built for an error
        metrics = value.get("metrics")
        by = value.get("by")
        if isinstance(metrics, dict) and (by is None or isinstance(by, dict)):
            return Bucket(by={} if by is None else by, metrics=metrics)
    path = f"$.data.attributes.result.values[{index}]"
    _require(value, "metrics", path, dict)
    raise ResponseValidationError(f"expected object @ {path}.by", path=f"{path}.by")


# --- errors -----------------------------------------------------------------------------


def structure_error_details(data: Any) -> list[APIErrorDetail]:
    """Datadog's ``{"errors": [...]}`` -> details; tolerant of any shape (never raises)."""
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    return [_error_detail(item) for item in errors]


def _error_detail(item: Any) -> APIErrorDetail:
    if not isinstance(item, dict):
        return APIErrorDetail(detail=str(item))
    source = item.get("source")
    meta = item.get("meta")
    return APIErrorDetail(
        title=_optional_text(item.get("title")),
        detail=_optional_text(item.get("detail")),
        status=_optional_text(item.get("status")),
        source=APIErrorSource(
            pointer=_optional_text(source.get("pointer")),
            parameter=_optional_text(source.get("parameter")),
            header=_optional_text(source.get("header")),
        )
        if isinstance(source, dict)
        else None,
        meta=meta if isinstance(meta, dict) else None,
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)
