"""ddllmobs_async: an asyncio-first client for Datadog's LLM Observability Experiments API.

```python
import ddllmobs_async as dd

async with dd.LLMObsClient() as client:
    async for exp in client.list_experiments(project_id="..."):
        print(exp.id, exp.name, exp.status)
```
"""

from ddllmobs_async._client import LLMObsClient
from ddllmobs_async._converters.experiments import parse_experiment_page
from ddllmobs_async._ratelimit import RateLimitInfo
from ddllmobs_async._retry import RetryEvent, RetryPolicy
from ddllmobs_async._version import __version__
from ddllmobs_async.errors import (
    APIConnectionError,
    APIError,
    APIErrorDetail,
    APIErrorSource,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    LLMObsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServerError,
)
from ddllmobs_async.models import (
    AggregateQuery,
    AggregateResult,
    Assessment,
    Author,
    Bucket,
    Compute,
    EvalMetric,
    Experiment,
    ExperimentComparison,
    ExperimentEventsPage,
    ExperimentLookup,
    ExperimentPage,
    ExperimentResults,
    ExperimentSpan,
    ExperimentStatus,
    GroupBy,
    MetricType,
    Project,
    SpanError,
    SpanStatus,
    TimeRange,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIErrorDetail",
    "APIErrorSource",
    "APITimeoutError",
    "AggregateQuery",
    "AggregateResult",
    "Assessment",
    "AuthenticationError",
    "Author",
    "BadRequestError",
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
    "LLMObsClient",
    "LLMObsError",
    "MetricType",
    "NotFoundError",
    "PermissionDeniedError",
    "Project",
    "RateLimitError",
    "RateLimitInfo",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryEvent",
    "RetryPolicy",
    "ServerError",
    "SpanError",
    "SpanStatus",
    "TimeRange",
    "__version__",
    "parse_experiment_page",
]
