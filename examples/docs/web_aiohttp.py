"""An aiohttp application sharing one LLMObsClient across all requests."""

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ddllmobs_async import LLMObsClient, LLMObsError

LLMOBS = web.AppKey("llmobs", LLMObsClient)


def create_app(**client_options: Any) -> web.Application:
    async def llmobs_client(app: web.Application) -> AsyncIterator[None]:
        # Created once at startup, inside the server's event loop; closed at shutdown.
        async with LLMObsClient(**client_options) as client:
            app[LLMOBS] = client
            yield

    app = web.Application()
    app.cleanup_ctx.append(llmobs_client)
    app.router.add_get("/projects/{project_id}/experiments", list_experiments)
    return app


async def list_experiments(request: web.Request) -> web.Response:
    client = request.app[LLMOBS]
    try:
        limit = int(request.query.get("limit", "20"))
        stream = client.list_experiments(
            project_id=request.match_info["project_id"], max_items=limit
        )
        items = [{"id": exp.id, "name": exp.name, "status": exp.status} async for exp in stream]
    except ValueError as err:  # a bad limit: the client validates before any request
        raise web.HTTPBadRequest(text=str(err)) from err
    except LLMObsError as err:
        raise web.HTTPBadGateway(text=str(err)) from err
    return web.json_response(items)


if __name__ == "__main__":
    web.run_app(create_app())  # keys from DD_API_KEY / DD_APP_KEY
