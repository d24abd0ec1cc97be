"""A FastAPI application sharing one LLMObsClient, opened and closed by the lifespan.

Run it with ``uvicorn --factory web_fastapi:create_app`` (keys from DD_API_KEY / DD_APP_KEY).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request

from ddllmobs_async import LLMObsClient, LLMObsError


def create_app(**client_options: Any) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with LLMObsClient(**client_options) as client:
            app.state.llmobs = client
            yield

    app = FastAPI(lifespan=lifespan)
    app.add_api_route("/projects/{project_id}/experiments", list_experiments)
    return app


def get_client(request: Request) -> LLMObsClient:
    client: LLMObsClient = request.app.state.llmobs
    return client


async def list_experiments(
    project_id: str, client: Annotated[LLMObsClient, Depends(get_client)], limit: int = 20
) -> list[dict[str, Any]]:
    try:
        stream = client.list_experiments(project_id=project_id, max_items=limit)
        return [{"id": exp.id, "name": exp.name, "status": exp.status} async for exp in stream]
    except ValueError as err:
        raise HTTPException(status_code=400, detail=str(err)) from err
    except LLMObsError as err:
        raise HTTPException(status_code=502, detail=str(err)) from err
