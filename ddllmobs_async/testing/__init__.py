"""An in-process fake of Datadog's LLM Observability experiments API, for tests.

:class:`FakeLLMObs` serves ``GET /api/v2/llm-obs/v1/experiments``,
``POST /api/v2/llm-obs/v1/experimentation/analytics``, an experiment's events
(``GET /api/v2/llm-obs/v3/experiments/{id}/events``) and ``GET /api/v2/llm-obs/v1/projects``
on ``127.0.0.1`` with aiohttp:
the same JSON:API documents, errors, ``x-ratelimit-*`` headers and opaque cursors as
Datadog, an optional real rate limiter, and injectable :class:`Fault` s (5xx, 429,
dropped connections, truncated or non-JSON bodies, redirects, delays). Every request is
recorded as a :class:`RecordedRequest`.

Example:
    ```python
    from ddllmobs_async import LLMObsClient
    from ddllmobs_async.testing import FakeLLMObs, Fault


    async def test_lists_everything_despite_a_503():
        async with FakeLLMObs.seeded(n_experiments=30) as fake:
            fake.inject(Fault.status(503))
            async with LLMObsClient(
                api_key=fake.api_key, app_key=fake.app_key, base_url=fake.url
            ) as client:
                ...
            assert fake.stats.by_status[503] == 1
    ```

With pytest, the ``llmobs_fake`` and ``llmobs_client`` fixtures of
:mod:`ddllmobs_async.testing.pytest_plugin` are available automatically.
"""

from __future__ import annotations

from ddllmobs_async.testing._data import (
    DEFAULT_PROJECT_ID,
    FAKE_API_KEY,
    FAKE_APP_KEY,
    make_eval_events,
    make_experiment,
    make_experiments,
)
from ddllmobs_async.testing._faults import Fault
from ddllmobs_async.testing._recording import FakeStats, RecordedRequest
from ddllmobs_async.testing._server import (
    ANALYTICS_PATH,
    EVENTS_PATH,
    EXPERIMENTS_PATH,
    PROJECTS_PATH,
    FakeLLMObs,
)

__all__ = [
    "ANALYTICS_PATH",
    "DEFAULT_PROJECT_ID",
    "EVENTS_PATH",
    "EXPERIMENTS_PATH",
    "FAKE_API_KEY",
    "FAKE_APP_KEY",
    "FakeLLMObs",
    "FakeStats",
    "Fault",
    "PROJECTS_PATH",
    "RecordedRequest",
    "make_eval_events",
    "make_experiment",
    "make_experiments",
]
