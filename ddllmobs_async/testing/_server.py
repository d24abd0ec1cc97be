"""``FakeLLMObs``: an in-process fake of Datadog's LLM Observability experiments API."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import socket
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from ddllmobs_async.testing._analytics import aggregate, parse_analytics_body
from ddllmobs_async.testing._data import (
    DEFAULT_PROJECT_ID,
    FAKE_API_KEY,
    FAKE_APP_KEY,
    make_eval_events,
    make_experiments,
)
from ddllmobs_async.testing._experiments import (
    API_MAX_PAGE_SIZE,
    ExperimentStore,
    LastPageAfter,
    parse_list_query,
)
from ddllmobs_async.testing._faults import Fault, drop_connection, quick_faults, serve_fault
from ddllmobs_async.testing._jsonapi import ApiError, empty_response, json_response
from ddllmobs_async.testing._ratelimit import NOMINAL_LIMIT, FixedWindowLimiter, ratelimit_headers
from ddllmobs_async.testing._recording import FakeStats, RecordedRequest, Recorder, record_of

Endpoint = Literal["experiments", "analytics"]

EXPERIMENTS_PATH = "/api/v2/llm-obs/v1/experiments"
"""Path of the list-experiments endpoint (``GET``)."""

ANALYTICS_PATH = "/api/v2/llm-obs/v1/experimentation/analytics"
"""Path of the experimentation analytics endpoint (``POST``)."""

_ROUTES: dict[str, tuple[Endpoint, str]] = {
    EXPERIMENTS_PATH: ("experiments", "GET"),
    ANALYTICS_PATH: ("analytics", "POST"),
}
_LIMIT_NAMES = {
    "experiments": "llm_obs_experiments_list",
    "analytics": "llm_obs_experimentation_analytics",
    None: "llm_obs_api",
}
_SHUTDOWN_TIMEOUT = 1.0
_MAX_BODY = 64 * 1024 * 1024


class FakeLLMObs:
    """A fake Datadog LLM Observability API served by aiohttp on a local port.

    It implements ``GET /api/v2/llm-obs/v1/experiments`` (filters, keyset pagination with
    opaque base64 cursors) and ``POST /api/v2/llm-obs/v1/experimentation/analytics``
    (aggregation over eval events), checks ``DD-API-KEY`` / ``DD-APPLICATION-KEY``, sends
    Datadog's ``x-ratelimit-*`` headers on every response, can enforce a real rate limit,
    and serves injected faults. Every request is recorded in :attr:`requests`.

    Example:
        ```python
        async with FakeLLMObs.seeded(n_experiments=30) as fake:
            client = LLMObsClient(api_key=fake.api_key, app_key=fake.app_key, base_url=fake.url)
            fake.inject(Fault.status(503), Fault.rate_limited(reset=0.1))
            ...
            assert fake.stats.rate_limited == 1
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
            or ``None`` to only send nominal headers.
        latency: Seconds to wait before every answer.
        integer_reset: Round ``x-ratelimit-reset`` up to whole seconds like Datadog
            (default: up to 3 decimals, so sub-second windows are exact).
        max_page_size: Largest page served; ``page[limit]`` above it is clamped (the API
            clamps at 5000).
        last_page_after: ``meta.after`` on the last page: ``"omit"`` (absent), ``""`` or
            ``None`` (JSON null).
        empty_pages_every: If set to N >= 2, every Nth page of a listing is empty but still
            carries a cursor to the rest.
        project_id: The project the data belongs to (informational; see :attr:`project_id`).
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
        integer_reset: bool = False,
        max_page_size: int = API_MAX_PAGE_SIZE,
        last_page_after: LastPageAfter = "omit",
        empty_pages_every: int | None = None,
        project_id: str = DEFAULT_PROJECT_ID,
    ) -> None:
        _check_options(rate_limit, latency, max_page_size, last_page_after, empty_pages_every)
        self._store = ExperimentStore(experiments)
        self._events = [copy.deepcopy(dict(event)) for event in eval_events]
        self.api_key = api_key
        self.app_key = app_key
        self.project_id = project_id
        self._host = host
        self._port = port
        self._latency = latency
        self._max_page_size = max_page_size
        self._last_page_after = last_page_after
        self._empty_pages_every = empty_pages_every
        self._limiters = {
            endpoint: _limiter(name, rate_limit, integer_reset)
            for endpoint, name in _LIMIT_NAMES.items()
        }
        self._recorder = Recorder()
        self._queued: deque[tuple[Fault, Endpoint | None]] = deque()
        self._random_faults: _RandomFaults | None = None
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None
        self._closing = asyncio.Event()
        self._url: str | None = None

    @classmethod
    def seeded(
        cls,
        n_experiments: int = 25,
        seed: int = 0,
        project_id: str = DEFAULT_PROJECT_ID,
        events_per_experiment: int = 4,
        **kwargs: Any,
    ) -> FakeLLMObs:
        """Return a fake serving :func:`make_experiments` data and its eval events.

        Args:
            n_experiments: Number of experiments (some soft-deleted, see
                :func:`make_experiments`).
            seed: Seed for the data.
            project_id: Project of every experiment.
            events_per_experiment: Eval events per experiment.
            **kwargs: Any other :class:`FakeLLMObs` option.
        """
        experiments = make_experiments(n_experiments, seed=seed, project_id=project_id)
        events = make_eval_events(experiments, per_experiment=events_per_experiment, seed=seed)
        return cls(experiments, events, project_id=project_id, **kwargs)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind the port and start serving.

        Raises:
            RuntimeError: If already started.
            OSError: If the address cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("FakeLLMObs is already started")
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_shutdown.append(self._on_shutdown)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.create_server((self._host, self._port), family=family)
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner, self._socket = runner, sock
        self._closing.clear()
        host, port = sock.getsockname()[:2]
        self._url = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{port}"

    async def close(self) -> None:
        """Stop serving: drop in-flight answers and close every connection. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self._stop_accepting()
        await runner.cleanup()

    async def _stop_accepting(self) -> None:
        # On Python 3.11, a connection accepted in the loop iteration that closes the
        # listening socket is leaked (asyncio Server._attach asserts). Stop accepting
        # first and let already accepted connections attach before aiohttp closes.
        if self._socket is not None and self._socket.fileno() >= 0:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_reader(self._socket.fileno())
        for _ in range(3):
            await asyncio.sleep(0)
        self._socket = None

    async def _on_shutdown(self, app: web.Application) -> None:
        # Runs once the listening socket is closed: wake delayed answers so they drop
        # their connections instead of holding up shutdown.
        self._closing.set()

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
        if self._url is None:
            raise RuntimeError("FakeLLMObs is not started; use 'async with' or start()")
        return self._url

    # ------------------------------------------------------------------ data

    @property
    def experiments(self) -> list[dict[str, Any]]:
        """Copies of the stored experiments (with ``author``/``dataset_name``), newest first."""
        return self._store.all()

    @property
    def eval_events(self) -> list[dict[str, Any]]:
        """Copies of the stored eval events."""
        return copy.deepcopy(self._events)

    def add_experiments(self, *experiments: Mapping[str, Any]) -> None:
        """Store more experiments (takes effect for the next request, even mid-listing)."""
        self._store.add(experiments)

    def add_eval_events(self, *events: Mapping[str, Any]) -> None:
        """Store more eval events."""
        self._events.extend(copy.deepcopy(dict(event)) for event in events)

    # ------------------------------------------------------------------ recording

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since start or :meth:`reset_requests`, in arrival order."""
        return list(self._recorder.requests)

    def requests_to(self, endpoint: Endpoint) -> list[RecordedRequest]:
        """The recorded requests to ``"experiments"`` or ``"analytics"``."""
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
        _check_endpoint(endpoint)
        self._queued.extend((fault, endpoint) for fault in faults)

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
        _check_endpoint(endpoint)
        choices = tuple(kinds) if kinds is not None else quick_faults()
        if not choices:
            raise ValueError("kinds must not be empty")
        active = rate > 0
        self._random_faults = _RandomFaults(rate, seed, choices, endpoint) if active else None

    def clear_faults(self) -> None:
        """Drop queued faults and stop random ones."""
        self._queued.clear()
        self._random_faults = None

    @property
    def pending_faults(self) -> int:
        """Number of injected faults not consumed yet."""
        return len(self._queued)

    def _next_fault(self, endpoint: Endpoint | None) -> Fault | None:
        for index, (fault, only) in enumerate(self._queued):
            if only is None or only == endpoint:
                del self._queued[index]
                return fault
        if self._random_faults is not None:
            return self._random_faults.pick(endpoint)
        return None

    # ------------------------------------------------------------------ serving

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = _ROUTES.get(request.path)
        endpoint = route[0] if route else None
        body = await _read_body(request)
        record = record_of(request, body, endpoint)
        self._recorder.arrive(record)
        response, status, fault = await self._answer(request, endpoint, body)
        self._recorder.finish(record, status, fault)
        return response

    async def _answer(
        self, request: web.Request, endpoint: Endpoint | None, body: bytes
    ) -> tuple[web.StreamResponse, int | None, str | None]:
        fault = self._next_fault(endpoint)
        delay = self._latency + (fault.seconds if fault and fault.kind == "delay" else 0.0)
        if delay and not await self._sleep(delay):
            return drop_connection(request), None, fault.name if fault else None
        if fault is not None and fault.kind != "delay":
            response = await serve_fault(
                fault, request, self._headers(endpoint), self._rate_limited_headers(fault, endpoint)
            )
            return response, None if fault.kind == "reset" else response.status, fault.name
        response = self._serve(request, endpoint, body)
        return response, response.status, fault.name if fault else None

    async def _sleep(self, seconds: float) -> bool:
        """Sleep; return False if the fake started closing meanwhile."""
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return True
        return False

    def _serve(
        self, request: web.Request, endpoint: Endpoint | None, body: bytes
    ) -> web.StreamResponse:
        limiter = self._limiters[endpoint]
        try:
            routed = _route(request)
            self._authenticate(request)
            decision = limiter.hit()
            if not decision.allowed:
                return empty_response(429, decision.headers)
            document = self._document(routed, request, body)
            return json_response(document, 200, decision.headers)
        except ApiError as error:
            return json_response(error.body(), error.status, limiter.headers())

    def _authenticate(self, request: web.Request) -> None:
        if request.headers.get("DD-API-KEY") != self.api_key:
            raise ApiError(403, "Forbidden: missing or invalid DD-API-KEY.", header="DD-API-KEY")
        if request.headers.get("DD-APPLICATION-KEY") != self.app_key:
            detail = "Unauthorized: missing or invalid DD-APPLICATION-KEY."
            raise ApiError(401, detail, header="DD-APPLICATION-KEY")

    def _document(self, endpoint: Endpoint, request: web.Request, body: bytes) -> dict[str, Any]:
        if endpoint == "experiments":
            query = parse_list_query(request.query, self._max_page_size)
            return self._store.page(
                query,
                empty_pages_every=self._empty_pages_every,
                last_page_after=self._last_page_after,
            )
        return aggregate(self._events, parse_analytics_body(body))

    def _headers(self, endpoint: Endpoint | None) -> dict[str, str]:
        return self._limiters[endpoint].headers()

    def _rate_limited_headers(self, fault: Fault, endpoint: Endpoint | None) -> dict[str, str]:
        limiter = self._limiters[endpoint]
        return ratelimit_headers(
            limit=fault.limit if fault.limit is not None else limiter.limit,
            period=limiter.period,
            remaining=0,
            reset=fault.seconds,
            name=limiter.name,
        )


def _route(request: web.Request) -> Endpoint:
    route = _ROUTES.get(request.path)
    if route is None:
        raise ApiError(404, f"No route for {request.method} {request.path}.")
    endpoint, method = route
    if request.method != method:
        raise ApiError(405, f"{request.method} is not allowed on {request.path}; use {method}.")
    return endpoint


async def _read_body(request: web.Request) -> bytes:
    if not request.body_exists:
        return b""
    try:
        return await request.read()
    except web.HTTPException:
        raise
    except Exception:  # the client went away mid-body; record what we have (nothing)
        return b""


class _RandomFaults:
    def __init__(
        self, rate: float, seed: int, kinds: tuple[Fault, ...], endpoint: Endpoint | None
    ) -> None:
        self._rate = rate
        self._rng = random.Random(seed)
        self._kinds = kinds
        self._endpoint = endpoint

    def pick(self, endpoint: Endpoint | None) -> Fault | None:
        if self._endpoint is not None and endpoint != self._endpoint:
            return None
        if self._rng.random() >= self._rate:
            return None
        return self._rng.choice(self._kinds)


def _limiter(
    name: str, rate_limit: tuple[int, float] | None, integer_reset: bool
) -> FixedWindowLimiter:
    limit, period = rate_limit or NOMINAL_LIMIT
    return FixedWindowLimiter(
        name=name,
        limit=limit,
        period=period,
        enforce=rate_limit is not None,
        integer_reset=integer_reset,
    )


def _check_endpoint(endpoint: object) -> None:
    if endpoint not in (None, "experiments", "analytics"):
        raise ValueError(f"endpoint must be 'experiments', 'analytics' or None, not {endpoint!r}")


def _check_options(
    rate_limit: tuple[int, float] | None,
    latency: float,
    max_page_size: int,
    last_page_after: object,
    empty_pages_every: int | None,
) -> None:
    if rate_limit is not None and (rate_limit[0] < 1 or rate_limit[1] <= 0):
        raise ValueError(f"rate_limit must be (limit >= 1, period > 0), got {rate_limit!r}")
    if latency < 0:
        raise ValueError(f"latency must not be negative, got {latency!r}")
    if max_page_size < 1:
        raise ValueError(f"max_page_size must be >= 1, got {max_page_size!r}")
    if last_page_after not in ("omit", "", None):
        raise ValueError(f"last_page_after must be 'omit', '' or None, not {last_page_after!r}")
    if empty_pages_every is not None and empty_pages_every < 2:
        raise ValueError(f"empty_pages_every must be >= 2, got {empty_pages_every!r}")
