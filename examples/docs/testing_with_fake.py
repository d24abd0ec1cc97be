"""Test your own code against FakeLLMObs, without pytest fixtures."""

from collections import Counter

from ddllmobs_async import LLMObsClient
from ddllmobs_async.testing import FakeLLMObs, Fault, make_experiment


# --8<-- [start:code]
async def count_by_status(client: LLMObsClient, project_id: str) -> dict[str, int]:
    """The code under test."""
    counts: Counter[str] = Counter()
    async for exp in client.list_experiments(project_id=project_id):
        counts[str(exp.status)] += 1
    return dict(counts)


# --8<-- [end:code]


# --8<-- [start:seeded]
async def check_seeded() -> dict[str, int]:
    # 40 generated experiments (a few soft-deleted) and their eval events.
    async with FakeLLMObs.seeded(n_experiments=40, seed=7) as fake:
        # The next two requests fail: a 503, then a 429 with a 50 ms reset.
        fake.inject(Fault.status(503), Fault.rate_limited(reset=0.05))
        async with LLMObsClient(fake.api_key, fake.app_key, base_url=fake.url) as client:
            counts = await count_by_status(client, fake.project_id)

        live = [e for e in fake.experiments if e["attributes"]["deleted_at"] is None]
        assert sum(counts.values()) == len(live)
        assert fake.stats.by_status[503] == 1
        assert fake.stats.rate_limited == 1
        assert len(fake.requests_to("experiments")) == 3  # two failures, one success
        return counts


# --8<-- [end:seeded]


# --8<-- [start:custom]
async def check_custom_data() -> dict[str, int]:
    # Hand-made experiments: every attribute has a default, override what matters.
    fake = FakeLLMObs(
        [
            make_experiment(name="run-1", status="completed"),
            make_experiment(name="run-2", status="failed", error="Timeout"),
            make_experiment(name="run-3", status="failed", error="Timeout"),
        ],
        project_id="a33671aa-24fd-4dcd-9b33-a8ec7dde7751",  # make_experiment's default
    )
    async with fake, LLMObsClient(fake.api_key, fake.app_key, base_url=fake.url) as client:
        counts = await count_by_status(client, fake.project_id)

    (request,) = fake.requests  # every request is recorded
    assert request.param("filter[project_id]") == fake.project_id
    assert request.headers["DD-API-KEY"] == fake.api_key
    assert counts == {"completed": 1, "failed": 2}
    return counts


# --8<-- [end:custom]
