"""``GET /api/v2/llm-obs/v3/experiments/{id}/events`` -> ``ExperimentEventsPage``.

The wire span keeps ``input``, ``output``, ``expected_output`` and ``error`` in a ``meta``
object and its duration in ``duration``; the model has them flat, as ``duration_ns``.
"""

from __future__ import annotations

from typing import Any

from ddllmobs_async._converters import require, structure
from ddllmobs_async._converters.fast_events import fast_metric, fast_span
from ddllmobs_async._converters.jsonapi import next_cursor
from ddllmobs_async.errors import ResponseValidationError
from ddllmobs_async.models import EvalMetric, ExperimentEventsPage, ExperimentSpan

_META_FIELDS = ("input", "output", "expected_output", "error")
_ATTRIBUTES = "$.data.attributes"


def _flat_span(raw: dict[str, Any]) -> dict[str, Any]:
    """The span with its ``meta`` members beside the others and ``duration`` renamed."""
    flat = dict(raw)
    meta = flat.pop("meta", None)
    if "duration" in flat:
        flat["duration_ns"] = flat.pop("duration")
    if meta:
        for key in _META_FIELDS:
            if key in meta:
                flat[key] = meta[key]
    return flat


def structure_span(item: Any, *, path: str = "$") -> ExperimentSpan:
    """One wire span (with ``meta`` and ``eval_metrics``) -> ``ExperimentSpan``."""
    _expect(item, dict, path)
    meta = item.get("meta")
    if meta is not None:
        _expect(meta, dict, f"{path}.meta")
        if meta.get("error") is not None:
            _expect(meta["error"], dict, f"{path}.meta.error")
    if "eval_metrics" in item:
        _expect_objects(item["eval_metrics"], f"{path}.eval_metrics")
    try:
        span: ExperimentSpan = structure(_flat_span(item), ExperimentSpan, path)
    except ResponseValidationError as error:
        raise _on_the_wire(error, path) from None
    return span


def _expect(value: Any, kind: type, path: str) -> None:
    """cattrs' hooks would read a string as an object or a list: check before them."""
    if not isinstance(value, kind):
        expected = "object" if kind is dict else "array"
        raise ResponseValidationError(
            f"expected {expected} @ {path}, got {type(value).__name__}", path=path
        )


def _expect_objects(value: Any, path: str) -> None:
    _expect(value, list, path)
    for index, item in enumerate(value):
        _expect(item, dict, f"{path}[{index}]")


def _on_the_wire(error: ResponseValidationError, path: str) -> ResponseValidationError:
    """The same error, naming the member as sent (``meta.error``, ``duration``)."""
    renames = {f"{path}.duration_ns": f"{path}.duration", f"{path}.error": f"{path}.meta.error"}

    def wire(text: str) -> str:
        for model_path, wire_path in renames.items():
            if text == model_path or text.startswith((f"{model_path}.", f"{model_path}[")):
                return wire_path + text[len(model_path) :]
        return text

    message = " ".join(wire(word) for word in error.message.split(" "))
    return ResponseValidationError(
        message, status=error.status, path=wire(error.path) if error.path else error.path
    )


def _structure_spans(items: list[Any]) -> list[ExperimentSpan]:
    try:  # the usual well-formed page: no per-item paths; any failure is explained below
        return [fast_span(item) for item in items]
    except Exception:
        pass
    return [structure_span(item, path=f"{_ATTRIBUTES}.spans[{i}]") for i, item in enumerate(items)]


def _structure_metrics(items: list[Any], path: str) -> list[EvalMetric]:
    try:
        return [fast_metric(item) for item in items]
    except Exception:
        pass
    _expect_objects(items, path)
    return [structure(item, EvalMetric, f"{path}[{i}]") for i, item in enumerate(items)]


def structure_events_page(body: Any, *, cursor: str | None = None) -> ExperimentEventsPage:
    """A decoded list-experiment-events body -> :class:`ExperimentEventsPage`.

    ``summary_metrics`` absent or ``null`` reads as none (a server that sends them on one
    page only may leave the key out on the others).
    """
    data = require(body, "data", "$", dict)
    attributes = require(data, "attributes", "$.data", dict)
    spans = _structure_spans(require(attributes, "spans", _ATTRIBUTES, list))
    summary: list[EvalMetric] = []
    if attributes.get("summary_metrics") is not None:
        raw = require(attributes, "summary_metrics", _ATTRIBUTES, list)
        summary = _structure_metrics(raw, f"{_ATTRIBUTES}.summary_metrics")
    return ExperimentEventsPage(spans, summary, next_cursor(body), cursor)


def count_spans(body: Any) -> int:
    """How many spans an events body holds (0 when it is malformed)."""
    data = body.get("data") if isinstance(body, dict) else None
    attributes = data.get("attributes") if isinstance(data, dict) else None
    spans = attributes.get("spans") if isinstance(attributes, dict) else None
    return len(spans) if isinstance(spans, list) else 0


def split_spans(body: dict[str, Any], parts: int) -> list[dict[str, Any]]:
    """An events body as ``parts`` events bodies, each with a slice of the spans."""
    data = body["data"]
    attributes = data["attributes"]
    spans = attributes["spans"]
    size = -(-len(spans) // parts)
    return [
        {
            **body,
            "data": {**data, "attributes": {**attributes, "spans": spans[start : start + size]}},
        }
        for start in range(0, len(spans), size)
    ]
