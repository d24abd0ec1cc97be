"""Every route the fake serves.

Adding an endpoint: define its ``Route`` in its own module (like ``_experiments.py``), add
it to :data:`ROUTES` and its name to :data:`Endpoint`.
"""

from __future__ import annotations

from typing import Literal

from ddllmobs_async.testing._analytics import ANALYTICS_ROUTE
from ddllmobs_async.testing._events import EVENTS_ROUTE
from ddllmobs_async.testing._experiments import EXPERIMENTS_ROUTE
from ddllmobs_async.testing._projects import PROJECTS_ROUTE
from ddllmobs_async.testing._route import Route

Endpoint = Literal["experiments", "analytics", "events", "projects"]

ROUTES: tuple[Route, ...] = (
    EXPERIMENTS_ROUTE,
    ANALYTICS_ROUTE,
    EVENTS_ROUTE,
    PROJECTS_ROUTE,
)

ENDPOINTS: tuple[str, ...] = tuple(route.endpoint for route in ROUTES)

UNROUTED_LIMIT_NAME = "llm_obs_api"
"""``x-ratelimit-name`` for paths no route serves."""


def find_route(path: str) -> tuple[Route, dict[str, str]] | None:
    """The route serving ``path`` and its path parameters, or ``None``."""
    for route in ROUTES:
        params = route.match(path)
        if params is not None:
            return route, params
    return None


def check_endpoint(endpoint: object) -> None:
    """Raise ``ValueError`` unless ``endpoint`` is ``None`` or a served endpoint's name."""
    if endpoint is not None and endpoint not in ENDPOINTS:
        names = ", ".join(repr(name) for name in ENDPOINTS)
        raise ValueError(f"endpoint must be one of {names} or None, not {endpoint!r}")
