"""An aiohttp web backend that shares one ``LLMObsClient`` across all requests.

The client is created once at start-up by a ``cleanup_ctx`` (so it is born inside the
server's event loop), stored in the app under an ``AppKey``, used by every handler, and
closed at shutdown.

Run it::

    export DD_API_KEY=... DD_APP_KEY=...        # or the lines `ddllmobs fake-server` prints
    export DD_LLMOBS_BASE_URL=http://127.0.0.1:PORT  # optional: talk to the fake server
    python examples/aiohttp_backend.py

    curl 'http://127.0.0.1:8080/experiments?project_id=...&limit=5'
    curl 'http://127.0.0.1:8080/scores/<experiment_id>'
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from ddllmobs_async import AggregateQuery, Compute, LLMObsClient, LLMObsError

LLMOBS_CLIENT = web.AppKey("llmobs_client", LLMObsClient)

ClientFactory = Callable[[], LLMObsClient]


AVERAGE_SCORE = Compute("score_value", name="avg_score")

# The id from the URL goes into a search query: anything but a plain id (``*``, spaces,
# ``OR``, ``@field:value``) would change what the query matches, e.g. every experiment's.
PLAIN_ID = re.compile(r"[A-Za-z0-9_-]+")


def client_from_env() -> LLMObsClient:
    """Keys from ``DD_API_KEY`` / ``DD_APP_KEY``; ``DD_LLMOBS_BASE_URL`` overrides the site."""
    return LLMObsClient()


def create_app(make_client: ClientFactory = client_from_env) -> web.Application:
    """The web application; ``make_client`` builds the one shared client at start-up."""

    async def llmobs_client(app: web.Application) -> AsyncIterator[None]:
        async with make_client() as client:
            app[LLMOBS_CLIENT] = client
            yield  # the app serves requests here; the client closes after shutdown

    app = web.Application()
    app.cleanup_ctx.append(llmobs_client)
    app.router.add_get("/experiments", list_experiments)
    app.router.add_get("/scores/{experiment_id}", experiment_scores)
    return app


async def list_experiments(request: web.Request) -> web.Response:
    """``GET /experiments?project_id=P[&limit=N]``: the project's experiments, newest first."""
    project_id = request.query.get("project_id")
    if not project_id:
        return _error(400, "the project_id query parameter is required")
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        return _error(400, "limit must be an integer")
    client = request.app[LLMOBS_CLIENT]
    try:
        experiments = [
            {
                "id": experiment.id,
                "name": experiment.name,
                "status": None if experiment.status is None else str(experiment.status),
                "created_at": experiment.created_at.isoformat(),
            }
            async for experiment in client.list_experiments(
                project_id=project_id, max_items=max(limit, 0)
            )
        ]
    except LLMObsError as error:
        return _error(502, error.message)
    return web.json_response({"experiments": experiments})


async def experiment_scores(request: web.Request) -> web.Response:
    """``GET /scores/{experiment_id}``: the experiment's average eval score per label."""
    experiment_id = request.match_info["experiment_id"]
    if not PLAIN_ID.fullmatch(experiment_id):
        return _error(400, "experiment_id must be letters, digits, '-' or '_'")
    query = AggregateQuery(
        [AVERAGE_SCORE],
        ["experiment-evals"],
        f"@experiment_id:{experiment_id}",
        group_by=["label"],
    )
    try:
        result = await request.app[LLMOBS_CLIENT].aggregate(query)
    except LLMObsError as error:
        return _error(502, error.message)
    scores = {str(b.by["label"]): b.value(AVERAGE_SCORE) for b in result.buckets}
    body: dict[str, Any] = {
        "experiment_id": experiment_id,
        "events": result.hit_count,
        "scores": scores,
    }
    return web.json_response(body)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def main() -> None:
    """Serve on ``PORT`` (default 8080).

    ``handler_cancellation=True``: a client that disconnects cancels its handler, and so
    the handler's call to Datadog (aiohttp's default lets the handler run to its end).
    """
    port = int(os.environ.get("PORT", "8080"))
    web.run_app(create_app(), host="127.0.0.1", port=port, handler_cancellation=True)


if __name__ == "__main__":
    main()
