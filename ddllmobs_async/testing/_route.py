"""What a route of the fake is: an endpoint name, a method, a path and a handler.

Each endpoint module (``_experiments.py``, ``_analytics.py``...) defines its ``Route`` s;
``_routes.py`` lists them. The handler turns a request into a JSON document (or raises
:class:`~ddllmobs_async.testing._jsonapi.ApiError`); authentication, rate limits, faults,
latency and recording happen around it in ``_dispatch.py``, the same for every route.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

if TYPE_CHECKING:
    from ddllmobs_async.testing._analytics import MetricKeys
    from ddllmobs_async.testing._events import ResultsData
    from ddllmobs_async.testing._experiments import ExperimentStore, LastPageAfter

_PARAMETER = re.compile(r"\{(\w+)\}")


@attrs.define
class FakeData:
    """The data set and the serving options every handler reads."""

    store: ExperimentStore
    events: list[dict[str, Any]]
    max_page_size: int
    last_page_after: LastPageAfter
    empty_pages_every: int | None
    results: ResultsData
    metric_keys: MetricKeys = "alias"


@attrs.frozen
class Call:
    """One routed request: the aiohttp request, its body and the path parameters."""

    request: web.Request
    body: bytes
    params: Mapping[str, str]


Handler = Callable[[FakeData, Call], dict[str, Any]]


@attrs.frozen
class Route:
    """One endpoint of the fake.

    Attributes:
        endpoint: The name requests and faults use (``"experiments"``).
        method: The only method allowed (others get 405).
        path: The path, with ``{name}`` for a path parameter (one segment).
        limit_name: ``x-ratelimit-name`` of the endpoint's rate-limit bucket.
        handle: Builds the response document.
    """

    endpoint: str
    method: str
    path: str
    limit_name: str
    handle: Handler
    _pattern: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        parts = _PARAMETER.split(self.path)
        regex = "".join(
            f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)
        )
        object.__setattr__(self, "_pattern", re.compile(f"^{regex}$"))

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters if ``path`` is this route's, else ``None``."""
        found = self._pattern.match(path)
        return None if found is None else found.groupdict()
