"""Datadog's error bodies (``{"errors": [...]}``) -> :class:`APIErrorDetail`, any shape."""

from __future__ import annotations

from typing import Any

from ddllmobs_async.errors import APIErrorDetail, APIErrorSource


def structure_error_details(body: Any) -> list[APIErrorDetail]:
    """The details of a decoded error body; tolerant of any shape (never raises)."""
    errors = body.get("errors") if isinstance(body, dict) else None
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
        source=_source(source) if isinstance(source, dict) else None,
        meta=meta if isinstance(meta, dict) else None,
    )


def _source(source: dict[str, Any]) -> APIErrorSource:
    return APIErrorSource(
        pointer=_optional_text(source.get("pointer")),
        parameter=_optional_text(source.get("parameter")),
        header=_optional_text(source.get("header")),
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)
