"""Tests using the pytest fixtures that ship with ddllmobs_async (no conftest.py needed)."""

import pytest

from ddllmobs_async import LLMObsClient, NotFoundError
from ddllmobs_async.testing import FakeLLMObs, Fault


async def newest_names(client: LLMObsClient, project_id: str, n: int) -> list[str]:
    """The code under test."""
    stream = client.list_experiments(project_id=project_id, max_items=n)
    return [exp.name async for exp in stream]


def live_names(fake: FakeLLMObs) -> list[str]:
    return [e["attributes"]["name"] for e in fake.experiments if not e["attributes"]["deleted_at"]]


async def test_newest_names(llmobs_fake: FakeLLMObs, llmobs_client: LLMObsClient) -> None:
    names = await newest_names(llmobs_client, llmobs_fake.project_id, 5)
    assert names == live_names(llmobs_fake)[:5]


async def test_survives_a_server_error(
    llmobs_fake: FakeLLMObs, llmobs_client: LLMObsClient
) -> None:
    llmobs_fake.inject(Fault.status(503))  # the next request gets a 503, then normal answers
    names = await newest_names(llmobs_client, llmobs_fake.project_id, 5)
    assert names == live_names(llmobs_fake)[:5]
    assert llmobs_fake.stats.by_status == {503: 1, 200: 1}


async def test_a_404_is_not_retried(llmobs_fake: FakeLLMObs, llmobs_client: LLMObsClient) -> None:
    llmobs_fake.inject(Fault.status(404))
    with pytest.raises(NotFoundError):
        await newest_names(llmobs_client, llmobs_fake.project_id, 5)
    assert len(llmobs_fake.requests) == 1


@pytest.mark.llmobs_fake(n_experiments=3, latency=0.01)
async def test_with_options(llmobs_fake: FakeLLMObs, llmobs_client: LLMObsClient) -> None:
    # Marker keywords go to FakeLLMObs.seeded(): 3 experiments, 10 ms per answer.
    names = await newest_names(llmobs_client, llmobs_fake.project_id, 10)
    assert len(names) == 3
