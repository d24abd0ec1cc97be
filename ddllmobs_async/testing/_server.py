"""``FakeLLMObs``: an in-process fake of Datadog's LLM Observability experiments API.

This module is the public face (options, data, recording, faults); ``_app.py`` serves
HTTP, ``_dispatch.py`` runs every request through faults, auth and rate limits, and each
endpoint's routes live in their own module, listed in ``_routes.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from ddllmobs_async.testing._analytics import ANALYTICS_PATH, MetricKeys
from ddllmobs_async.testing._app import LocalServer
from ddllmobs_async.testing._data import (
    DEFAULT_PROJECT_ID,
    FAKE_API_KEY,
    FAKE_APP_KEY,
    make_eval_events,
    make_experiments,
    newest_created_before,
)
from ddllmobs_async.testing._dispatch import Dispatcher
from ddllmobs_async.testing._events import (
    EVENTS_PATH,
    EndOfPages,
    ResultsData,
    SummaryPages,
    check_results_options,
)
from ddllmobs_async.testing._experiments import (
    API_MAX_PAGE_SIZE,
    EXPERIMENTS_PATH,
    ExperimentStore,
    LastPageAfter,
)
from ddllmobs_async.testing._fault_queue import FaultQueue
from ddllmobs_async.testing._faults import Fault, quick_faults
from ddllmobs_async.testing._options import check_options
from ddllmobs_async.testing._projects import PROJECTS_PATH, make_projects
from ddllmobs_async.testing._recording import FakeStats, RecordedRequest, Recorder
from ddllmobs_async.testing._route import FakeData
from ddllmobs_async.testing._routes import Endpoint, check_endpoint

__all__ = [
    "ANALYTICS_PATH",
    "EVENTS_PATH",
    "EXPERIMENTS_PATH",
    "PROJECTS_PATH",
    "Endpoint",
    "FakeLLMObs",
]


class FakeLLMObs:
    """A fake Datadog LLM Observability API served by aiohttp on a local port.

    It implements ``GET /api/v2/llm-obs/v1/experiments`` (filters, keyset pagination with
    opaque base64 cursors), ``POST /api/v2/llm-obs/v1/experimentation/analytics``
    (aggregation over eval events), ``GET /api/v2/llm-obs/v3/experiments/{id}/events`` and
    ``GET /api/v2/llm-obs/v1/projects`` (see below), checks ``DD-API-KEY`` /
    ``DD-APPLICATION-KEY``, sends Datadog's ``x-ratelimit-*`` headers on every response,
    can enforce a real rate limit, and serves injected faults. Every request is recorded in
    :attr:`requests`.

    Example:
        ```python
        import asyncio

        from ddllmobs_async import LLMObsClient
        from ddllmobs_async.testing import FakeLLMObs, Fault


        async def main() -> None:
            async with FakeLLMObs.seeded(n_experiments=30) as fake:
                fake.inject(Fault.status(503), Fault.rate_limited(reset=0.1))
                client = LLMObsClient(fake.api_key, fake.app_key, base_url=fake.url)
                async with client:
                    stream = client.list_experiments(project_id=fake.project_id)
                    names = [exp.name async for exp in stream]
                assert fake.stats.rate_limited == 1
                print(len(names), fake.stats.by_status)


        asyncio.run(main())
        ```

    Args:
        experiments: Wire-format experiments to serve (``{"id", "type", "attributes"}``);
            ``author`` / ``dataset_name`` are only sent when the request includes them.
        eval_events: Flat event dicts for the analytics endpoint (see
            :func:`make_eval_events`).
        api_key: The only ``DD-API-KEY`` accepted (else 403).
        app_key: The only ``DD-APPLICATION-KEY`` accepted (else 401).
        host: Interface to bind.
        port: Port to bind; 0 picks a free one.
        rate_limit: ``(limit, period_seconds)`` to enforce per endpoint with fixed windows,
            or ``None`` to only send nominal headers. A request counts when it arrives,
            however late its answer (``latency``, ``Fault.delay``).
        latency: Seconds to wait before every answer.
        integer_reset: Send ``x-ratelimit-reset`` in whole seconds (rounded up) like
            Datadog (the default). ``False`` sends up to 3 decimals, for tests whose
            windows last less than a second. A reset given explicitly (to
            :meth:`Fault.rate_limited`) is sent as given.
        max_page_size: Largest page served; ``page[limit]`` above it is clamped (the API
            clamps at 5000).
        last_page_after: ``meta.after`` on the last page: ``"omit"`` (absent), ``""`` or
            ``None`` (JSON null).
        empty_pages_every: If set to N >= 2, every Nth page of a listing is empty but still
            carries a cursor to the rest.
        project_id: The project the data belongs to (informational; see :attr:`project_id`).
        events_end: How the last page of an experiment's events ends: ``"null"``
            (``"after": null``, the default), ``"empty"`` (``"after": ""``) or
            ``"no-meta"`` (no ``meta`` at all).
        projects_end: The same for the projects listing (default ``"no-meta"``).
        summary_pages: Which events pages carry the experiment's summary metrics:
            ``"every"`` (default), ``"first"`` or ``"last"`` (the others send ``[]``).
        metric_keys: How analytics buckets key a computed value: ``"alias"`` (the
            compute's ``name``, else its metric; the default) or ``"metric"`` (always the
            metric name, as in the API reference's example response).

    The experiment-events endpoint (``GET /api/v2/llm-obs/v3/experiments/{id}/events``)
    serves spans built from the same data: one root span per dataset record, carrying
    that record's eval rows as score metrics (so analytics averages and the spans agree)
    plus categorical, boolean and JSON evals; child spans; failed spans where the score
    is ``null``. ``GET /api/v2/llm-obs/v1/projects`` lists the experiments' projects.
    """

    def __init__(
        self,
        experiments: Iterable[Mapping[str, Any]] = (),
        eval_events: Iterable[Mapping[str, Any]] = (),
        *,
        api_key: str = FAKE_API_KEY,
        app_key: str = FAKE_APP_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: tuple[int, float] | None = None,
        latency: float = 0.0,
        integer_reset: bool = True,
        max_page_size: int = API_MAX_PAGE_SIZE,
        last_page_after: LastPageAfter = "omit",
        empty_pages_every: int | None = None,
        project_id: str = DEFAULT_PROJECT_ID,
        events_end: EndOfPages = "null",
        projects_end: EndOfPages = "no-meta",
        summary_pages: SummaryPages = "every",
        metric_keys: MetricKeys = "alias",
    ) -> None:
        check_options(
            rate_limit, latency, max_page_size, last_page_after, empty_pages_every, metric_keys
        )
        check_results_options(events_end, projects_end, summary_pages)
        self.project_id = project_id
        self._data = FakeData(
            store=ExperimentStore(experiments),
            events=[copy.deepcopy(dict(event)) for event in eval_events],
            max_page_size=max_page_size,
            last_page_after=last_page_after,
            empty_pages_every=empty_pages_every,
            results=ResultsData(
                events_end=events_end, projects_end=projects_end, summary_pages=summary_pages
            ),
            metric_keys=metric_keys,
        )
        self._recorder = Recorder()
        self._faults = FaultQueue()
        self._server = LocalServer(host=host, port=port)
        self._dispatcher = Dispatcher(
            self._data,
            api_key=api_key,
            app_key=app_key,
            latency=latency,
            rate_limit=rate_limit,
            integer_reset=integer_reset,
            recorder=self._recorder,
            faults=self._faults,
            sleep=self._server.sleep,
        )

    @classmethod
    def seeded(
        cls,
        n_experiments: int = 25,
        seed: int = 0,
        project_id: str = DEFAULT_PROJECT_ID,
        events_per_experiment: int = 4,
        now: datetime | None = None,
        **kwargs: Any,
    ) -> FakeLLMObs:
        """Return a fake serving :func:`make_experiments` data and its eval events.

        The data is anchored to ``now``: the newest experiment was created a few minutes
        before it and the others every hour or so before that, so windows like "the last
        24 hours" find data. The same seed and ``now`` give the same data.

        Args:
            n_experiments: Number of experiments (some soft-deleted, see
                :func:`make_experiments`).
            seed: Seed for the data.
            project_id: Project of every experiment.
            events_per_experiment: Eval events per experiment.
            now: The moment the data leads up to (an aware datetime); default: the
                current time.
            **kwargs: Any other :class:`FakeLLMObs` option.
        """
        experiments = make_experiments(
            n_experiments,
            seed=seed,
            project_id=project_id,
            newest_created_at=newest_created_before(now or datetime.now(UTC)),
        )
        events = make_eval_events(experiments, per_experiment=events_per_experiment, seed=seed)
        return cls(experiments, events, project_id=project_id, **kwargs)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind the port and start serving.

        Raises:
            RuntimeError: If already started.
            OSError: If the address cannot be bound.
        """
        await self._server.start(self._dispatcher.handle)

    async def close(self) -> None:
        """Stop serving: drop in-flight answers and close every connection. Idempotent."""
        await self._server.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """Base URL without a path, e.g. ``"http://127.0.0.1:43117"``.

        Raises:
            RuntimeError: If the fake has not been started.
        """
        if self._server.url is None:
            raise RuntimeError("FakeLLMObs is not started; use 'async with' or start()")
        return self._server.url

    @property
    def api_key(self) -> str:
        """The only ``DD-API-KEY`` accepted (settable, effective from the next request)."""
        return self._dispatcher.api_key

    @api_key.setter
    def api_key(self, value: str) -> None:
        self._dispatcher.api_key = value

    @property
    def app_key(self) -> str:
        """The only ``DD-APPLICATION-KEY`` accepted (settable, like :attr:`api_key`)."""
        return self._dispatcher.app_key

    @app_key.setter
    def app_key(self, value: str) -> None:
        self._dispatcher.app_key = value

    # ------------------------------------------------------------------ data

    @property
    def experiments(self) -> list[dict[str, Any]]:
        """Copies of the stored experiments (with ``author``/``dataset_name``), newest first."""
        return self._data.store.all()

    @property
    def eval_events(self) -> list[dict[str, Any]]:
        """Copies of the stored eval events."""
        return copy.deepcopy(self._data.events)

    def add_experiments(self, *experiments: Mapping[str, Any]) -> None:
        """Store more experiments (takes effect for the next request, even mid-listing)."""
        self._data.store.add(experiments)

    def add_eval_events(self, *events: Mapping[str, Any]) -> None:
        """Store more eval events."""
        self._data.events.extend(copy.deepcopy(dict(event)) for event in events)

    def experiment_events(self, experiment_id: str) -> tuple[list[Any], list[Any]]:
        """Copies of the wire spans and summary metrics served for ``experiment_id``.

        Raises:
            KeyError: If the fake answers 404 for this experiment.
        """
        found = self._data.results.events_of(experiment_id, self._data)
        if found is None:
            raise KeyError(experiment_id)
        return copy.deepcopy(found[0]), copy.deepcopy(found[1])

    def set_experiment_events(
        self,
        experiment_id: str,
        spans: Iterable[Any],
        summary_metrics: Iterable[Any] = (),
    ) -> None:
        """Serve these wire documents as ``experiment_id``'s events, verbatim.

        For any id, listed or not (odd characters included): spans with unknown enum
        values, missing fields, any JSON as input... exactly as given.
        """
        self._data.results.set_events(
            experiment_id, copy.deepcopy(list(spans)), copy.deepcopy(list(summary_metrics))
        )

    @property
    def projects(self) -> list[dict[str, Any]]:
        """The wire projects served: those of the stored experiments, newest first."""
        return make_projects(self._data.store.all())

    # ------------------------------------------------------------------ recording

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since start or :meth:`reset_requests`, in arrival order."""
        return list(self._recorder.requests)

    def requests_to(self, endpoint: Endpoint) -> list[RecordedRequest]:
        """The recorded requests to one endpoint (``"experiments"``, ``"events"``...)."""
        return [record for record in self._recorder.requests if record.endpoint == endpoint]

    def reset_requests(self) -> None:
        """Forget recorded requests and reset :attr:`stats`."""
        self._recorder.clear()

    @property
    def stats(self) -> FakeStats:
        """Counters of answered requests by status, 429s, dropped connections and faults."""
        return self._recorder.stats()

    # ------------------------------------------------------------------ faults

    def inject(self, *faults: Fault, endpoint: Endpoint | None = None) -> None:
        """Queue faults: each next request (to ``endpoint`` if given) gets the next one.

        A request consumes the first queued fault whose endpoint matches it (or that has
        none) and gets that fault instead of a normal answer (``Fault.delay`` answers
        normally afterwards).

        Note:
            aiohttp clients transparently retry an idempotent request (GET) once when the
            connection drops, so a GET needs two ``Fault.reset()`` for the caller to see a
            connection error.
        """
        check_endpoint(endpoint)
        self._faults.extend(faults, endpoint)

    def fail_randomly(
        self,
        rate: float,
        *,
        seed: int = 0,
        kinds: Sequence[Fault] | None = None,
        endpoint: Endpoint | None = None,
    ) -> None:
        """Give each request a random fault with probability ``rate`` (soak tests).

        Queued faults from :meth:`inject` go first. ``rate=0`` turns this off.

        Args:
            rate: Probability in [0, 1] that a request gets a fault.
            seed: Seed for the choices, so a run is reproducible.
            kinds: Faults to pick from (uniformly). Default: 500, 502, 503, 504, a 429
                with a 50 ms reset, connection reset, truncated body, non-JSON body, HTML
                gateway page and a 20 ms delay.
            endpoint: Only fault requests to this endpoint.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate!r}")
        check_endpoint(endpoint)
        choices = tuple(kinds) if kinds is not None else quick_faults()
        if not choices:
            raise ValueError("kinds must not be empty")
        self._faults.randomly(rate, seed, choices, endpoint)

    def clear_faults(self) -> None:
        """Drop queued faults and stop random ones."""
        self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """Number of injected faults not consumed yet."""
        return len(self._faults)
