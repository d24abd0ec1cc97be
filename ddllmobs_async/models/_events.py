"""Experiment spans and evals, as listed by ``GET /api/v2/llm-obs/v3/experiments/{id}/events``.

Every field the API may leave out is optional here: ``None`` for a missing value, an empty
list or dict for a missing collection. Enum fields keep a value the enum does not know yet as
the plain string (the API is in preview), never an error.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SpanStatus(enum.StrEnum):
    """Outcome of an experiment span (an unknown value stays a plain string)."""

    OK = "ok"
    ERROR = "error"


class MetricType(enum.StrEnum):
    """Kind of value an :class:`EvalMetric` carries (an unknown kind stays a plain string)."""

    SCORE = "score"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    JSON = "json"


class Assessment(enum.StrEnum):
    """Pass/fail verdict of an :class:`EvalMetric` (an unknown value stays a plain string)."""

    PASS = "pass"
    FAIL = "fail"


@attrs.frozen(kw_only=True)
class SpanError:
    """The error recorded on a failed span.

    Attributes:
        type: Error type, e.g. the exception class; ``None`` when not sent.
        message: Error message; ``None`` when not sent.
        stack: Stack trace, as one string; ``None`` when not sent.
    """

    type: str | None = None
    message: str | None = None
    stack: str | None = None


_VALUE_FIELDS: dict[str, str] = {
    MetricType.SCORE: "score_value",
    MetricType.CATEGORICAL: "categorical_value",
    MetricType.BOOLEAN: "boolean_value",
    MetricType.JSON: "json_value",
}


@attrs.frozen(kw_only=True)
class EvalMetric:
    """One evaluation, of a span or of the whole experiment.

    Span evals are in :attr:`ExperimentSpan.eval_metrics`, experiment-level ones in
    :attr:`ExperimentResults.summary_metrics`. Exactly one of the ``*_value`` fields is
    normally set, the one matching ``metric_type``; :attr:`value` reads it.
    Every field is ``None`` (or empty) when the API leaves it out.

    Attributes:
        id: Identifier of this metric event.
        label: The metric's name, e.g. ``faithfulness``.
        metric_type: A :class:`MetricType`, or the plain string of a kind this library does
            not know yet; says which ``*_value`` field is set.
        score_value: The value when ``metric_type`` is ``score`` (a float).
        categorical_value: The value when ``metric_type`` is ``categorical`` (a string).
        boolean_value: The value when ``metric_type`` is ``boolean``.
        json_value: The value when ``metric_type`` is ``json``: any JSON value, kept as
            sent (normally an object).
        assessment: An :class:`Assessment` (pass or fail), or the plain string of a value
            this library does not know yet.
        reasoning: Explanation of the value (e.g. an LLM judge's reasoning).
        metric_source: Where the metric comes from, as sent: ``"custom"`` for metrics you
            submitted, ``"summary"`` for experiment-level ones.
        eval_source_type: Where the evaluation came from (a free string, as sent).
        timestamp_ms: When the metric was recorded, in milliseconds since the Unix epoch.
        span_id: The span the metric belongs to (usually ``None`` on summary metrics).
        trace_id: The trace the metric belongs to (usually ``None`` on summary metrics).
        tags: The metric's tags (strings); ``[]`` when absent.
        metadata: Arbitrary metadata of the metric, any JSON object; ``{}`` when absent or
            ``null``.
    """

    id: str | None = None
    label: str | None = None
    metric_type: MetricType | str | None = None
    score_value: float | None = None
    categorical_value: str | None = None
    boolean_value: bool | None = None
    json_value: Any = None
    assessment: Assessment | str | None = None
    reasoning: str | None = None
    metric_source: str | None = None
    eval_source_type: str | None = None
    timestamp_ms: int | None = None
    span_id: str | None = None
    trace_id: str | None = None
    tags: list[str] = attrs.Factory(list)
    metadata: dict[str, Any] = attrs.Factory(dict)

    @property
    def value(self) -> Any:
        """The value field matching ``metric_type``.

        For a type this library does not know (or none), the first value present, in the
        order score, categorical, boolean, json; ``None`` if there is none.
        """
        field = _VALUE_FIELDS.get(self.metric_type) if self.metric_type is not None else None
        if field is not None:
            return getattr(self, field)
        for name in _VALUE_FIELDS.values():
            found = getattr(self, name)
            if found is not None:
                return found
        return None


@attrs.frozen(kw_only=True)
class ExperimentSpan:
    """One span an experiment ran, with the evaluations attached to it.

    The API's ``meta`` object is flattened in: ``input``, ``output`` and
    ``expected_output`` are any JSON value exactly as sent (``None`` when absent or
    ``null``), and ``error`` is set on failed spans. ``start_ns`` is an exact integer
    (nanoseconds since the Unix epoch, beyond float precision); ``duration_ns`` is a float
    as the API sends it. ``parent_id`` is set on child spans. Every field is ``None`` (or
    empty) when the API leaves it out.

    Attributes:
        id: Identifier of the span as the API lists it (normally the same as ``span_id``).
        span_id: The span's ID.
        trace_id: The trace the span belongs to.
        parent_id: The parent span's ID on a child span; ``None`` on a root span.
        name: Span name.
        status: A :class:`SpanStatus` (``ok`` or ``error``), or the plain string of a
            status this library does not know yet.
        start_ns: Start time in nanoseconds since the Unix epoch, an exact integer
            (:attr:`start` gives it as a datetime).
        duration_ns: Duration in nanoseconds, a float as the API sends it (``duration`` on
            the wire).
        dataset_record_id: The dataset record the span ran on.
        tags: Span tags (``key:value`` strings); ``[]`` when absent.
        metrics: Numeric span metrics by name (token counts, cost...); ``{}`` when absent.
        input: The span's input (``meta.input``), any JSON value exactly as sent; ``None``
            when absent or ``null``.
        output: The span's output (``meta.output``), any JSON value exactly as sent;
            ``None`` when absent or ``null``.
        expected_output: The expected output evaluations compared against
            (``meta.expected_output``), any JSON value exactly as sent; ``None`` when absent
            or ``null``.
        error: The error recorded on a failed span (``meta.error``); ``None`` otherwise.
        eval_metrics: The evaluations attached to this span, in the order sent; ``[]``
            when none.
    """

    id: str | None = None
    span_id: str | None = None
    trace_id: str | None = None
    parent_id: str | None = None
    name: str | None = None
    status: SpanStatus | str | None = None
    start_ns: int | None = None
    duration_ns: float | None = None
    dataset_record_id: str | None = None
    tags: list[str] = attrs.Factory(list)
    metrics: dict[str, float] = attrs.Factory(dict)
    input: Any = None
    output: Any = None
    expected_output: Any = None
    error: SpanError | None = None
    eval_metrics: list[EvalMetric] = attrs.Factory(list)

    @property
    def start(self) -> datetime | None:
        """``start_ns`` as an aware UTC datetime (truncated to microseconds), or ``None``."""
        if self.start_ns is None:
            return None
        return _EPOCH + timedelta(microseconds=self.start_ns // 1000)


@attrs.frozen
class ExperimentEventsPage:
    """One page of an experiment's events, for jobs that checkpoint between pages.

    Attributes:
        spans: The page's spans.
        summary_metrics: Experiment-level metrics as this page carried them (the API may
            repeat them on every page or send them once).
        next_cursor: Cursor of the next page, ``None`` on the last page. Save it after
            processing the page; resume later with ``cursor=next_cursor``.
        cursor: The cursor that fetched this page (``None`` for the first page).
    """

    spans: list[ExperimentSpan]
    summary_metrics: list[EvalMetric]
    next_cursor: str | None
    cursor: str | None = None


@attrs.frozen
class ExperimentResults:
    """Everything one experiment produced (:meth:`LLMObsClient.get_experiment_results`).

    Attributes:
        experiment_id: The experiment.
        spans: Every span, in the order the API listed them.
        summary_metrics: Experiment-level metrics, de-duplicated across pages (by ``id``,
            first seen wins, order kept), never added up.
    """

    experiment_id: str
    spans: list[ExperimentSpan] = attrs.Factory(list)
    summary_metrics: list[EvalMetric] = attrs.Factory(list)

    def evals(self, label: str) -> list[EvalMetric]:
        """Every span-level eval metric with this ``label``, in span order."""
        return [m for span in self.spans for m in span.eval_metrics if m.label == label]
