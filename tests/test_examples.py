"""The examples in ``examples/``, each run against the fake Datadog."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer

import ddllmobs_async as dd
from ddllmobs_async.testing import FakeLLMObs, Fault
from examples import aiohttp_backend, batch_job, fastapi_app
from tests.conftest import AggregatesInFlight, ClientFactory
from tests.test_cli import ThreadedFake, clean_env

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class SpyClient(dd.LLMObsClient):
    """An LLMObsClient that counts how often it is closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.close_calls = 0

    async def close(self) -> None:
        self.close_calls += 1
        await super().close()


class Factory:
    """Builds SpyClients for a fake and remembers them."""

    def __init__(self, fake: FakeLLMObs) -> None:
        self.fake = fake
        self.made: list[SpyClient] = []

    def __call__(self) -> dd.LLMObsClient:
        client = SpyClient(self.fake.api_key, self.fake.app_key, base_url=self.fake.url)
        self.made.append(client)
        return client


def visible(fake: FakeLLMObs) -> list[dict[str, Any]]:
    return [e for e in fake.experiments if e["attributes"]["deleted_at"] is None]


def average(values: Sequence[Any]) -> float | None:
    numbers = [v for v in values if v is not None]
    return sum(numbers) / len(numbers) if numbers else None


def label_scores(fake: FakeLLMObs, experiment_id: str) -> dict[str, float | None]:
    groups: dict[str, list[Any]] = {}
    for event in fake.eval_events:
        if event["experiment_id"] == experiment_id:
            groups.setdefault(event["label"], []).append(event["score_value"])
    return {label: average(values) for label, values in groups.items()}


def experiment_score(fake: FakeLLMObs, experiment_id: str) -> float | None:
    return average(
        [e["score_value"] for e in fake.eval_events if e["experiment_id"] == experiment_id]
    )


@pytest.fixture
def fake_env(fake: FakeLLMObs, monkeypatch: pytest.MonkeyPatch) -> FakeLLMObs:
    """The environment the examples read, pointing at the fake."""
    monkeypatch.setenv("DD_API_KEY", fake.api_key)
    monkeypatch.setenv("DD_APP_KEY", fake.app_key)
    monkeypatch.setenv("DD_LLMOBS_BASE_URL", fake.url)
    return fake


def assert_scores(actual: Mapping[str, Any], expected: Mapping[str, float | None]) -> None:
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert actual[key] == (None if value is None else pytest.approx(value))


# --- aiohttp -------------------------------------------------------------------------------


async def test_aiohttp_backend_shares_one_client(fake: FakeLLMObs) -> None:
    factory = Factory(fake)
    app = aiohttp_backend.create_app(factory)
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        assert len(factory.made) == 1  # created at start-up, before any request
        response = await http.get(
            "/experiments", params={"project_id": fake.project_id, "limit": "1000"}
        )
        assert response.status == 200
        listed = (await response.json())["experiments"]
        assert [e["id"] for e in listed] == [e["id"] for e in visible(fake)]
        assert listed[0]["name"] == visible(fake)[0]["attributes"]["name"]

        for experiment in visible(fake)[:3]:
            response = await http.get(f"/scores/{experiment['id']}")
            assert response.status == 200
            body = await response.json()
            assert body["experiment_id"] == experiment["id"]
            assert body["events"] == 4
            assert_scores(body["scores"], label_scores(fake, experiment["id"]))

        limited = await http.get(
            "/experiments", params={"project_id": fake.project_id, "limit": "2"}
        )
        assert len((await limited.json())["experiments"]) == 2
        assert (await http.get("/experiments")).status == 400

        fake.inject(Fault.status(400, [{"title": "Bad Request", "detail": "nope"}]))
        failed = await http.get("/scores/x")
        assert failed.status == 502
        assert "nope" in (await failed.json())["error"]

        (client,) = factory.made  # still the one client, shared by every request
        assert app[aiohttp_backend.LLMOBS_CLIENT] is client
        assert client.close_calls == 0
    assert client.close_calls == 1  # closed at shutdown


async def test_aiohttp_backend_reads_the_environment(fake_env: FakeLLMObs) -> None:
    app = aiohttp_backend.create_app()
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        response = await http.get("/experiments", params={"project_id": fake_env.project_id})
        assert response.status == 200
        assert app[aiohttp_backend.LLMOBS_CLIENT].base_url == fake_env.url
    assert len(fake_env.requests_to("experiments")) == 1


# --- FastAPI -------------------------------------------------------------------------------


async def test_fastapi_app_shares_one_client(fake: FakeLLMObs) -> None:
    factory = Factory(fake)
    app = fastapi_app.create_app(factory)
    async with app.router.lifespan_context(app):
        assert len(factory.made) == 1
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get(
                "/experiments", params={"project_id": fake.project_id, "limit": 1000}
            )
            assert response.status_code == 200
            listed = response.json()["experiments"]
            assert [e["id"] for e in listed] == [e["id"] for e in visible(fake)]

            for experiment in visible(fake)[:3]:
                response = await http.get(f"/scores/{experiment['id']}")
                assert response.status_code == 200
                body = response.json()
                assert body["events"] == 4
                assert_scores(body["scores"], label_scores(fake, experiment["id"]))

            limited = await http.get(
                "/experiments", params={"project_id": fake.project_id, "limit": 2}
            )
            assert len(limited.json()["experiments"]) == 2
            assert (await http.get("/experiments")).status_code == 422

            fake.inject(Fault.status(400, [{"title": "Bad Request", "detail": "nope"}]))
            failed = await http.get("/scores/x")
            assert failed.status_code == 502
            assert "HTTP 400" in failed.json()["detail"]

        (client,) = factory.made
        assert app.state.llmobs_client is client
        assert client.close_calls == 0
    assert client.close_calls == 1


async def test_fastapi_app_reads_the_environment(fake_env: FakeLLMObs) -> None:
    app = fastapi_app.create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            experiment_id = visible(fake_env)[0]["id"]
            response = await http.get(f"/scores/{experiment_id}")
            assert response.status_code == 200
            assert_scores(response.json()["scores"], label_scores(fake_env, experiment_id))
        assert app.state.llmobs_client.base_url == fake_env.url


# --- batch job -----------------------------------------------------------------------------


async def test_batch_job_scores_every_experiment(
    fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(fake)
    checkpoint = tmp_path / "checkpoint.json"
    scores = await batch_job.run(client, fake.project_id, checkpoint, concurrency=4, page_size=20)
    assert_scores(scores, {e["id"]: experiment_score(fake, e["id"]) for e in visible(fake)})
    assert len(fake.requests_to("analytics")) == len(visible(fake))
    assert json.loads(checkpoint.read_text())["done"] is True

    fake.reset_requests()  # a finished job does nothing when run again
    again = await batch_job.run(client, fake.project_id, checkpoint, page_size=20)
    assert again == scores
    assert fake.requests == []


async def test_batch_job_resumes_after_an_interruption(
    fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(fake)
    checkpoint = tmp_path / "checkpoint.json"
    expected = {e["id"]: experiment_score(fake, e["id"]) for e in visible(fake)}
    # Pages 1 and 2 succeed; page 3 fails with a 400 (not retried): the job stops.
    fake.inject(Fault.delay(0), Fault.delay(0), Fault.status(400), endpoint="experiments")
    with pytest.raises(dd.BadRequestError) as failure:
        await batch_job.run(client, fake.project_id, checkpoint, concurrency=3, page_size=10)
    state = json.loads(checkpoint.read_text())
    first_two_pages = [e["id"] for e in visible(fake)[:20]]
    assert list(state["scores"]) == first_two_pages
    assert state["cursor"] == failure.value.cursor is not None
    assert state["done"] is False
    first_run = [
        r.json["data"]["attributes"]["aggregate"]["search"]["query"]
        for r in fake.requests_to("analytics")
    ]
    assert len(first_run) == 20

    fake.reset_requests()
    scores = await batch_job.run(client, fake.project_id, checkpoint, concurrency=3, page_size=10)
    listing = fake.requests_to("experiments")
    assert listing[0].param("page[cursor]") == state["cursor"]  # no finished page refetched
    assert len(listing) == -(-(len(visible(fake)) - 20) // 10)
    second_run = [
        r.json["data"]["attributes"]["aggregate"]["search"]["query"]
        for r in fake.requests_to("analytics")
    ]
    every_query = sorted(first_run + second_run)
    assert every_query == sorted(f"@experiment_id:{i}" for i in expected)  # each exactly once
    assert_scores(scores, expected)
    assert list(scores) == [e["id"] for e in visible(fake)]


async def test_batch_job_bounds_its_concurrency(
    fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(fake)
    fake_latency = [Fault.delay(0.02)] * 40
    fake.inject(*fake_latency, endpoint="analytics")
    in_flight = AggregatesInFlight(client)
    scores = await batch_job.run(client, fake.project_id, tmp_path / "c.json", concurrency=3)
    assert len(scores) == len(visible(fake))
    assert in_flight.peak == 3


def test_batch_job_rejects_another_projects_checkpoint(tmp_path: Path) -> None:
    checkpoint = tmp_path / "c.json"
    batch_job.save_checkpoint(checkpoint, {"project_id": "a", "cursor": None, "scores": {}})
    with pytest.raises(ValueError, match="project 'a'"):
        batch_job.load_checkpoint(checkpoint, "b")


def test_batch_job_script_reads_the_environment(tmp_path: Path) -> None:
    with ThreadedFake(n_experiments=12, seed=5) as fake:
        env = clean_env(
            DD_API_KEY=fake.api_key, DD_APP_KEY=fake.app_key, DD_LLMOBS_BASE_URL=fake.url
        )
        checkpoint = tmp_path / "scores.json"
        result = subprocess.run(
            [
                sys.executable,
                str(EXAMPLES / "batch_job.py"),
                fake.project_id,
                "--checkpoint",
                str(checkpoint),
                "--concurrency",
                "2",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        scores = json.loads(result.stdout)
        assert_scores(scores, {e["id"]: experiment_score(fake, e["id"]) for e in visible(fake)})
        assert json.loads(checkpoint.read_text())["done"] is True
