"""Typed models: attrs classes, converted from and to the wire by ``ddllmobs_async._converters``.

Response models (:class:`Experiment`, :class:`AggregateResult`...) are built by the client;
request models (:class:`AggregateQuery`, :class:`Compute`...) are built by you and validated
on construction, so an invalid query fails before any request, naming the argument.
One module per endpoint family; everything public is re-exported here and from
``ddllmobs_async``.
"""

from ddllmobs_async.models._analytics import (  # noqa: F401  (to_epoch_ms: for the converters)
    AggregateQuery,
    AggregateResult,
    Bucket,
    Compute,
    GroupBy,
    TimeRange,
    to_epoch_ms,
)
from ddllmobs_async.models._events import (
    Assessment,
    EvalMetric,
    ExperimentEventsPage,
    ExperimentResults,
    ExperimentSpan,
    MetricType,
    SpanError,
    SpanStatus,
)
from ddllmobs_async.models._experiments import (
    Author,
    Experiment,
    ExperimentComparison,
    ExperimentLookup,
    ExperimentPage,
    ExperimentStatus,
)
from ddllmobs_async.models._projects import (  # noqa: F401  (ProjectPage: for the paginator)
    Project,
    ProjectPage,
)

__all__ = [
    "AggregateQuery",
    "AggregateResult",
    "Assessment",
    "Author",
    "Bucket",
    "Compute",
    "EvalMetric",
    "Experiment",
    "ExperimentComparison",
    "ExperimentEventsPage",
    "ExperimentLookup",
    "ExperimentPage",
    "ExperimentResults",
    "ExperimentSpan",
    "ExperimentStatus",
    "GroupBy",
    "MetricType",
    "Project",
    "SpanError",
    "SpanStatus",
    "TimeRange",
]
