"""The example apps refuse an experiment id that would rewrite their search query.

``/scores/{experiment_id}`` builds ``@experiment_id:{experiment_id}``: an id such as ``*``
or ``x OR @label:faithfulness`` would return other experiments' scores. Each app runs
against ``FakeLLMObs`` over real HTTP on 127.0.0.1 (the aiohttp app on a real server too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer

import ddllmobs_async as dd
from ddllmobs_async.testing import FakeLLMObs
from examples import aiohttp_backend, fastapi_app

HOSTILE_IDS = [
    "*",
    "x%20OR%20@label:faithfulness",
    "x%20OR%20*",
    "abc*",
    "@label:relevance",
    "%22quoted%22",
    "(x)",
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMObs]:
    async with FakeLLMObs.seeded(n_experiments=12) as server:
        yield server


def client_for(fake: FakeLLMObs) -> dd.LLMObsClient:
    return dd.LLMObsClient(fake.api_key, fake.app_key, base_url=fake.url)


@pytest.mark.parametrize("experiment_id", HOSTILE_IDS)
async def test_aiohttp_backend_rejects_a_query_in_the_id(
    fake: FakeLLMObs, experiment_id: str
) -> None:
    app = aiohttp_backend.create_app(lambda: client_for(fake))
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        response = await http.get(f"/scores/{experiment_id}")
        assert response.status == 400, await response.text()
        assert "experiment_id" in (await response.json())["error"]
        plain = fake.experiments[0]["id"]
        assert (await http.get(f"/scores/{plain}")).status == 200
    (analytics,) = fake.requests_to("analytics")  # only the plain id's query was sent
    assert analytics.json["data"]["attributes"]["aggregate"]["search"] == {
        "query": f"@experiment_id:{plain}"
    }


@pytest.mark.parametrize("experiment_id", HOSTILE_IDS)
async def test_fastapi_app_rejects_a_query_in_the_id(fake: FakeLLMObs, experiment_id: str) -> None:
    app = fastapi_app.create_app(lambda: client_for(fake))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get(f"/scores/{experiment_id}")
            assert response.status_code == 400, response.text
            assert "experiment_id" in response.json()["detail"]
            plain = fake.experiments[0]["id"]
            assert (await http.get(f"/scores/{plain}")).status_code == 200
    (analytics,) = fake.requests_to("analytics")
    assert analytics.json["data"]["attributes"]["aggregate"]["search"] == {
        "query": f"@experiment_id:{plain}"
    }


async def test_before_the_check_a_wildcard_id_read_every_experiment(fake: FakeLLMObs) -> None:
    """Why the check matters: the same query, sent as the unchecked app did, counts all."""
    async with client_for(fake) as client:
        query = dd.AggregateQuery(["score_value"], ["experiment-evals"], "@experiment_id:*")
        result = await client.aggregate(query)
    assert result.hit_count == len(fake.eval_events) > 4
