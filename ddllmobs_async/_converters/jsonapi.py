"""The JSON:API envelope shared by every endpoint: resources, their attributes, ``meta.after``."""

from __future__ import annotations

from typing import Any, TypeVar

from ddllmobs_async._converters import converter, require, structure
from ddllmobs_async.errors import ResponseValidationError

T = TypeVar("T")


def resource_list(body: Any) -> list[Any]:
    """The ``data`` array of a list response (checked to be an array)."""
    items: list[Any] = require(body, "data", "$", list)
    return items


def flatten(resource: Any, path: str) -> dict[str, Any]:
    """``{"id", "type", "attributes": {...}}`` -> the attributes with ``id`` beside them."""
    identifier = require(resource, "id", path, str)
    attributes = require(resource, "attributes", path, dict)
    return {**attributes, "id": identifier}


def structure_resource(item: Any, cls: type[T], *, path: str = "$") -> T:
    """One resource (``{"id", "type", "attributes"}``) as ``cls``; a failure names the field."""
    result: T = structure(flatten(item, path), cls, f"{path}.attributes")
    return result


def structure_resources(items: list[Any], cls: type[T]) -> list[T]:
    """A list's resources as ``cls``, in one pass for the usual well-formed page; when that
    fails, resource by resource, so the error names the offending field."""
    hook = converter.get_structure_hook(cls)
    try:
        return [hook({**item["attributes"], "id": item["id"]}, cls) for item in items]
    except Exception:
        pass
    return [structure_resource(item, cls, path=f"$.data[{i}]") for i, item in enumerate(items)]


def next_cursor(body: dict[str, Any]) -> str | None:
    """``meta.after``, the next cursor; absent ``meta``, ``null`` and ``""`` end the pages."""
    meta = body.get("meta")
    after = meta.get("after") if isinstance(meta, dict) else None
    if after is not None and not isinstance(after, str):
        raise ResponseValidationError(
            f"expected string @ $.meta.after, got {type(after).__name__}", path="$.meta.after"
        )
    return after or None


def count_resources(body: Any) -> int:
    """How many resources a list body holds (0 when it is not a list body)."""
    items = body.get("data") if isinstance(body, dict) else None
    return len(items) if isinstance(items, list) else 0


def split_resources(body: dict[str, Any], parts: int) -> list[dict[str, Any]]:
    """A list body as ``parts`` list bodies, each with a slice of ``data`` (same ``meta``)."""
    items = body["data"]
    size = -(-len(items) // parts)
    return [{**body, "data": items[start : start + size]} for start in range(0, len(items), size)]
