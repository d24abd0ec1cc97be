"""The pipeline every request of the fake goes through, the same for every endpoint.

Record, fault or latency, route, authenticate, rate-limit, then the route's handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ddllmobs_async.testing._app import read_body
from ddllmobs_async.testing._fault_queue import FaultQueue
from ddllmobs_async.testing._faults import Fault, drop_connection, serve_fault
from ddllmobs_async.testing._jsonapi import ApiError, empty_response, json_response
from ddllmobs_async.testing._ratelimit import NOMINAL_LIMIT, FixedWindowLimiter, ratelimit_headers
from ddllmobs_async.testing._recording import Recorder, record_of
from ddllmobs_async.testing._route import Call, FakeData, Route
from ddllmobs_async.testing._routes import ROUTES, UNROUTED_LIMIT_NAME, find_route

Answer = tuple[web.StreamResponse, int | None, str | None]


class Dispatcher:
    """Answers requests for a :class:`~ddllmobs_async.testing.FakeLLMObs`."""

    def __init__(
        self,
        data: FakeData,
        *,
        api_key: str,
        app_key: str,
        latency: float,
        rate_limit: tuple[int, float] | None,
        integer_reset: bool,
        recorder: Recorder,
        faults: FaultQueue,
        sleep: Callable[[float], Awaitable[bool]],
    ) -> None:
        self.data = data
        self.api_key = api_key
        self.app_key = app_key
        self._latency = latency
        self._recorder = recorder
        self._faults = faults
        self._sleep = sleep
        names: dict[str | None, str] = {route.endpoint: route.limit_name for route in ROUTES}
        names[None] = UNROUTED_LIMIT_NAME
        self._limiters = {
            endpoint: _limiter(name, rate_limit, integer_reset) for endpoint, name in names.items()
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Record ``request``, answer it, and record the answer."""
        found = find_route(request.path)
        endpoint = found[0].endpoint if found else None
        body = await read_body(request)
        record = record_of(request, body, endpoint)
        self._recorder.arrive(record)
        response, status, fault = await self._answer(request, found, body)
        self._recorder.finish(record, status, fault)
        return response

    async def _answer(
        self, request: web.Request, found: tuple[Route, dict[str, str]] | None, body: bytes
    ) -> Answer:
        endpoint = found[0].endpoint if found else None
        fault = self._faults.next_for(endpoint)
        # Judged on arrival, answered after the wait: the rate limit counts a request when
        # it comes in, however long the answer then takes (as a gateway in front would).
        faulty = fault is not None and fault.kind != "delay"
        response = None if faulty else self._serve(request, found, body)
        delay = self._latency + (fault.seconds if fault and fault.kind == "delay" else 0.0)
        if delay and not await self._sleep(delay):
            return drop_connection(request), None, fault.name if fault else None
        if response is None:
            assert fault is not None
            limiter = self._limiters[endpoint]
            response = await serve_fault(
                fault, request, limiter.headers(), _rate_limited_headers(fault, limiter)
            )
            return response, None if fault.kind == "reset" else response.status, fault.name
        return response, response.status, fault.name if fault else None

    def _serve(
        self, request: web.Request, found: tuple[Route, dict[str, str]] | None, body: bytes
    ) -> web.StreamResponse:
        limiter = self._limiters[found[0].endpoint if found else None]
        try:
            route, params = _checked_route(request, found)
            self._authenticate(request)
            decision = limiter.hit()
            if not decision.allowed:
                return empty_response(429, decision.headers)
            document = route.handle(self.data, Call(request, body, params))
            return json_response(document, 200, decision.headers)
        except ApiError as error:
            return json_response(error.body(), error.status, limiter.headers())

    def _authenticate(self, request: web.Request) -> None:
        if request.headers.get("DD-API-KEY") != self.api_key:
            raise ApiError(403, "Missing or invalid DD-API-KEY.", header="DD-API-KEY")
        if request.headers.get("DD-APPLICATION-KEY") != self.app_key:
            detail = "Missing or invalid DD-APPLICATION-KEY."
            raise ApiError(401, detail, header="DD-APPLICATION-KEY")


def _checked_route(
    request: web.Request, found: tuple[Route, dict[str, str]] | None
) -> tuple[Route, dict[str, str]]:
    if found is None:
        raise ApiError(404, f"No route for {request.method} {request.path}.")
    route = found[0]
    if request.method != route.method:
        detail = f"{request.method} is not allowed on {request.path}; use {route.method}."
        raise ApiError(405, detail)
    return found


def _rate_limited_headers(fault: Fault, limiter: FixedWindowLimiter) -> dict[str, str]:
    return ratelimit_headers(
        limit=fault.limit if fault.limit is not None else limiter.limit,
        period=limiter.period,
        remaining=0,
        reset=fault.seconds,
        name=limiter.name,
    )


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
