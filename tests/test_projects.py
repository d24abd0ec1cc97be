"""``list_projects`` against the fake over HTTP: filters, paging, resuming, the schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import ddllmobs_async as dd
from ddllmobs_async.testing import DEFAULT_PROJECT_ID, FakeLLMObs, Fault, make_experiments
from tests.conftest import ClientFactory
from tests.results_openapi import validate

OTHER_PROJECTS = (
    "0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f",
    "e4b2c7d1-6a3f-4e9b-8c0d-1f2a3b4c5d6e",
    "5b1f7a9c-3d2e-4f60-8a1b-9c0d2e3f4a5b",
)


def with_projects(**options: Any) -> FakeLLMObs:
    """A fake whose experiments belong to four projects."""
    fake = FakeLLMObs.seeded(n_experiments=4, **options)
    for seed, project_id in enumerate(OTHER_PROJECTS, start=1):
        fake.add_experiments(*make_experiments(3, seed=seed, project_id=project_id))
    return fake


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMObs]:
    async with with_projects() as server:
        yield server


async def collect(stream: AsyncIterator[dd.Project]) -> list[dd.Project]:
    return [project async for project in stream]


async def test_lists_the_projects_of_the_experiments_newest_first(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    projects = await collect(client.list_projects())
    wire = fake.projects
    assert [p.id for p in projects] == [p["id"] for p in wire]
    assert {p.id for p in projects} == {DEFAULT_PROJECT_ID, *OTHER_PROJECTS}
    created = [p.created_at for p in projects]
    assert all(c is not None for c in created)
    assert created == sorted(created, reverse=True)  # type: ignore[type-var]
    default = next(p for p in projects if p.id == DEFAULT_PROJECT_ID)
    assert default.name == "My LLM Project" and default.description is None
    assert {p.description for p in projects} >= {None, ""}


@pytest.mark.parametrize("end", ["no-meta", "null", "empty"])
async def test_pages_and_every_end_form(end: str, make_client: ClientFactory) -> None:
    async with with_projects(projects_end=end) as fake:
        projects = await collect(make_client(fake).list_projects(page_size=1))
        assert [p.id for p in projects] == [p["id"] for p in fake.projects]
        requests = fake.requests_to("projects")
        assert len(requests) == 4
        assert [r.param("page[limit]") for r in requests] == ["1"] * 4


async def test_filters_repeat_filter_id_and_send_the_name(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    wanted = [OTHER_PROJECTS[2], OTHER_PROJECTS[0]]
    found = await collect(client.list_projects(ids=wanted))
    assert {p.id for p in found} == set(wanted)
    assert fake.requests_to("projects")[-1].params("filter[id]") == wanted
    named = await collect(client.list_projects(name="My LLM Project"))
    assert [p.id for p in named] == [DEFAULT_PROJECT_ID]
    assert fake.requests_to("projects")[-1].param("filter[name]") == "My LLM Project"
    assert await collect(client.list_projects(name="nothing by that name")) == []


async def test_empty_ids_list_nothing_without_a_request(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    assert await collect(client.list_projects(ids=[])) == []
    assert fake.requests == []


@pytest.mark.parametrize(
    "options",
    [{"ids": [""]}, {"name": ""}, {"page_size": 0}, {"page_size": 5001}, {"max_items": -1}],
)
async def test_bad_arguments_fail_before_any_request(
    options: dict[str, Any], fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    with pytest.raises(ValueError):
        await anext(client.list_projects(**options))
    assert fake.requests == []


async def test_max_items_and_resume_after_a_500(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake, max_retries=0, retry_policy=None)
    first_two = await collect(client.list_projects(page_size=2, max_items=3))
    assert [p.id for p in first_two] == [p["id"] for p in fake.projects][:3]
    fake.inject(Fault.delay(0.001), Fault.status(500), endpoint="projects")
    seen: list[dd.Project] = []

    async def read_all() -> None:
        async for project in client.list_projects(page_size=2):
            seen.append(project)

    with pytest.raises(dd.ServerError) as caught:
        await read_all()
    assert caught.value.cursor == fake.requests_to("projects")[-1].param("page[cursor]")
    rest = await collect(client.list_projects(page_size=2, cursor=caught.value.cursor))
    assert [p.id for p in seen + rest] == [p["id"] for p in fake.projects]


@pytest.mark.parametrize("end", ["no-meta", "null", "empty"])
async def test_fake_project_pages_match_the_openapi_schema(end: str, http: Any) -> None:
    async with with_projects(projects_end=end) as fake:
        headers = {"DD-API-KEY": fake.api_key, "DD-APPLICATION-KEY": fake.app_key}
        cursor: str | None = None
        pages = 0
        while True:
            params = {"page[limit]": "3", **({"page[cursor]": cursor} if cursor else {})}
            async with http.get(
                f"{fake.url}/api/v2/llm-obs/v1/projects", params=params, headers=headers
            ) as response:
                assert response.status == 200
                document = await response.json(content_type=None)
            validate("LLMObsProjectsResponse", document)
            pages += 1
            cursor = (document.get("meta") or {}).get("after")
            if not cursor:
                break
        assert pages == 2
