"""A FastAPI app that shares one ``LLMObsClient`` across all requests.

The client is created once in the app's lifespan (inside the server's event loop), kept on
``app.state``, handed to routes through a dependency, and closed at shutdown.

Run it::

    pip install fastapi uvicorn
    export DD_API_KEY=... DD_APP_KEY=...        # or the lines `ddllmobs fake-server` prints
    export DD_LLMOBS_BASE_URL=http://127.0.0.1:PORT  # optional: talk to the fake server
    python examples/fastapi_app.py

    curl 'http://127.0.0.1:8000/experiments?project_id=...&limit=5'
    curl 'http://127.0.0.1:8000/scores/<experiment_id>'
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request

from ddllmobs_async import AggregateQuery, Compute, LLMObsClient, LLMObsError

ClientFactory = Callable[[], LLMObsClient]


AVERAGE_SCORE = Compute("score_value", name="avg_score")

# The id from the URL goes into a search query: anything but a plain id (``*``, spaces,
# ``OR``, ``@field:value``) would change what the query matches, e.g. every experiment's.
PLAIN_ID = re.compile(r"[A-Za-z0-9_-]+")


def client_from_env() -> LLMObsClient:
    """Keys from ``DD_API_KEY`` / ``DD_APP_KEY``; ``DD_LLMOBS_BASE_URL`` overrides the site."""
    return LLMObsClient()


def llmobs_client(request: Request) -> LLMObsClient:
    """Dependency: the client the lifespan created."""
    client: LLMObsClient = request.app.state.llmobs_client
    return client


Client = Annotated[LLMObsClient, Depends(llmobs_client)]


def create_app(make_client: ClientFactory = client_from_env) -> FastAPI:
    """The application; ``make_client`` builds the one shared client at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with make_client() as client:
            app.state.llmobs_client = client
            yield  # the app serves requests here; the client closes after shutdown

    app = FastAPI(title="LLM Observability scores", lifespan=lifespan)

    @app.get("/experiments")
    async def list_experiments(
        client: Client, project_id: str, limit: Annotated[int, Query(ge=0)] = 100
    ) -> dict[str, Any]:
        """The project's experiments, newest first."""
        try:
            experiments = [
                {
                    "id": experiment.id,
                    "name": experiment.name,
                    "status": None if experiment.status is None else str(experiment.status),
                    "created_at": experiment.created_at.isoformat(),
                }
                async for experiment in client.list_experiments(
                    project_id=project_id, max_items=limit
                )
            ]
        except LLMObsError as error:
            raise HTTPException(status_code=502, detail=error.message) from error
        return {"experiments": experiments}

    @app.get("/scores/{experiment_id}")
    async def experiment_scores(client: Client, experiment_id: str) -> dict[str, Any]:
        """The experiment's average eval score per label."""
        if not PLAIN_ID.fullmatch(experiment_id):
            raise HTTPException(400, "experiment_id must be letters, digits, '-' or '_'")
        query = AggregateQuery(
            [AVERAGE_SCORE],
            ["experiment-evals"],
            f"@experiment_id:{experiment_id}",
            group_by=["label"],
        )
        try:
            result = await client.aggregate(query)
        except LLMObsError as error:
            raise HTTPException(status_code=502, detail=error.message) from error
        scores = {str(b.by["label"]): b.value(AVERAGE_SCORE) for b in result.buckets}
        return {"experiment_id": experiment_id, "events": result.hit_count, "scores": scores}

    return app


def main() -> None:
    """Serve with uvicorn on ``PORT`` (default 8000)."""
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))


if __name__ == "__main__":
    main()
