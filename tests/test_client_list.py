"""list_experiments / list_experiment_pages against the fake Datadog."""

from __future__ import annotations

import json
from typing import Any

import pytest

import ddllmobs_async as dd
from ddllmobs_async.testing import FakeLLMObs, make_experiment, make_experiments
from tests.conftest import ClientFactory
from tests.openapi import validate


def live(fake: FakeLLMObs) -> list[dict[str, Any]]:
    return [e for e in fake.experiments if e["attributes"]["deleted_at"] is None]


async def test_walks_every_page_newest_first_with_repeated_filters(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    wanted = [e["id"] for e in live(fake)][:9]
    seen = [
        exp.id
        async for exp in client.list_experiments(
            project_id=fake.project_id, ids=wanted, page_size=3
        )
    ]
    assert seen == wanted  # newest first, exactly once each
    requests = fake.requests_to("experiments")
    assert len(requests) == 3
    for request in requests:
        assert request.params("filter[id]") == wanted  # repeated parameter, order kept
        assert request.params("page[limit]") == ["3"]
    assert requests[0].params("page[cursor]") == []
    created = [e["attributes"]["created_at"] for e in live(fake)][:9]
    assert created == sorted(created, reverse=True)


async def test_items_are_typed_and_complete(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    experiments = [exp async for exp in client.list_experiments(project_id=fake.project_id)]
    assert [e.id for e in experiments] == [e["id"] for e in live(fake)]
    for exp, raw in zip(experiments, live(fake), strict=True):
        attributes = raw["attributes"]
        assert exp.name == attributes["name"] and exp.project_id == fake.project_id
        assert exp.created_at.tzinfo is not None and exp.updated_at.tzinfo is not None
        assert exp.status == attributes["status"]
        assert exp.author is None and exp.dataset_name is None  # not included by default


async def test_fetches_lazily_and_stops_on_break(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    stream = client.list_experiments(project_id=fake.project_id, page_size=5)
    assert fake.requests_to("experiments") == []  # nothing before the first item is asked for
    items = []
    async for exp in stream:
        items.append(exp)
        assert len(fake.requests_to("experiments")) == (len(items) - 1) // 5 + 1
        if len(items) == 7:
            break
    assert len(fake.requests_to("experiments")) == 2


async def test_aclose_on_a_half_read_stream_fetches_nothing_more(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    stream = client.list_experiments(project_id=fake.project_id, page_size=4)
    first = await anext(stream)
    await stream.aclose()
    assert first.id == live(fake)[0]["id"]
    assert len(fake.requests_to("experiments")) == 1
    # the client stays usable
    assert (
        len([e async for e in client.list_experiments(project_id=fake.project_id, max_items=3)])
        == 3
    )


async def test_page_iteration_and_resume_from_a_checkpoint(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    pages = client.list_experiment_pages(project_id=fake.project_id, page_size=10)
    first = await anext(pages)
    await pages.aclose()
    assert first.cursor is None and first.next_cursor
    rest = [
        exp.id
        async for exp in client.list_experiments(
            project_id=fake.project_id, page_size=10, cursor=first.next_cursor
        )
    ]
    assert [e.id for e in first.experiments] + rest == [e["id"] for e in live(fake)]
    resumed = fake.requests_to("experiments")[1]
    assert resumed.params("page[cursor]") == [first.next_cursor]  # sent back exactly as received


async def test_cursor_with_url_special_characters_round_trips(make_client: ClientFactory) -> None:
    async with FakeLLMObs(make_experiments(30, seed=3)) as server:
        client = make_client(server)
        pages = [
            p async for p in client.list_experiment_pages(project_id=server.project_id, page_size=4)
        ]
        cursors = [p.next_cursor for p in pages if p.next_cursor]
        assert any(set(c) & set("+/=") for c in cursors)
        sent = [r.params("page[cursor]") for r in server.requests_to("experiments")[1:]]
        assert sent == [[c] for c in cursors]


async def test_server_clamp_and_short_pages_do_not_end_the_stream(
    make_client: ClientFactory,
) -> None:
    async with FakeLLMObs.seeded(n_experiments=40, max_page_size=7) as server:
        client = make_client(server)
        pages = [
            p
            async for p in client.list_experiment_pages(
                project_id=server.project_id, page_size=5000
            )
        ]
        assert all(len(p.experiments) <= 7 for p in pages)
        assert sum(len(p.experiments) for p in pages) == len(live(server))


async def test_empty_pages_with_a_cursor_are_followed(make_client: ClientFactory) -> None:
    async with FakeLLMObs.seeded(n_experiments=40, empty_pages_every=2) as server:
        client = make_client(server)
        pages = [
            p async for p in client.list_experiment_pages(project_id=server.project_id, page_size=6)
        ]
        assert any(not p.experiments and p.next_cursor for p in pages)
        assert [e.id for p in pages for e in p.experiments] == [e["id"] for e in live(server)]


@pytest.mark.parametrize("after", ["", None, "omit"])
async def test_absent_null_or_empty_after_ends_the_walk(
    make_client: ClientFactory, after: Any
) -> None:
    async with FakeLLMObs.seeded(n_experiments=12, last_page_after=after) as server:
        client = make_client(server)
        ids = [
            e.id async for e in client.list_experiments(project_id=server.project_id, page_size=5)
        ]
        assert ids == [e["id"] for e in live(server)]


async def test_max_items_limits_items_and_requests(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    ids = [
        e.id
        async for e in client.list_experiments(project_id=fake.project_id, page_size=4, max_items=6)
    ]
    assert ids == [e["id"] for e in live(fake)][:6]
    limits = [r.params("page[limit]") for r in fake.requests_to("experiments")]
    assert limits == [["4"], ["2"]]
    assert [e async for e in client.list_experiments(project_id=fake.project_id, max_items=0)] == []
    assert len(fake.requests_to("experiments")) == 2


async def test_max_items_above_the_largest_page_never_asks_for_more_than_it(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    async for _ in client.list_experiments(project_id=fake.project_id, max_items=12_000):
        pass
    limits = [r.params("page[limit]") for r in fake.requests_to("experiments")]
    assert limits and all(limit == ["5000"] for limit in limits)


async def test_every_filter_is_encoded(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    stream = client.list_experiments(
        project_id="p",
        dataset_id="d",
        ids=["a", "b"],
        name="run 1",
        experiment="pipe",
        metadata={"branch": "main", "n": 1},
        parent_experiment_ids=["x", "y"],
        is_deleted=True,
        include_user_data=True,
        include_dataset_names=True,
        page_size=10,
    )
    assert [e async for e in stream] == []
    (request,) = fake.requests_to("experiments")
    assert request.query == (
        ("filter[project_id]", "p"),
        ("filter[dataset_id]", "d"),
        ("filter[id]", "a"),
        ("filter[id]", "b"),
        ("filter[name]", "run 1"),
        ("filter[experiment]", "pipe"),
        ("filter[metadata]", '{"branch":"main","n":1}'),
        ("filter[parent_experiment_id]", "x"),
        ("filter[parent_experiment_id]", "y"),
        ("filter[is_deleted]", "true"),
        ("include[user_data]", "true"),
        ("include[dataset_names]", "true"),
        ("page[limit]", "10"),
    )
    assert json.loads(request.params("filter[metadata]")[0]) == {"branch": "main", "n": 1}


async def test_filters_select_the_right_experiments(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    target = live(fake)[3]["attributes"]
    by_metadata = [
        e
        async for e in client.list_experiments(
            project_id=fake.project_id, metadata=target["metadata"]
        )
    ]
    assert by_metadata and all(
        target["metadata"].items() <= e.metadata.items() for e in by_metadata
    )
    deleted = [
        e async for e in client.list_experiments(project_id=fake.project_id, is_deleted=False)
    ]
    assert all(e.deleted_at is None for e in deleted)
    only_deleted = [
        e async for e in client.list_experiments(project_id=fake.project_id, is_deleted=True)
    ]
    assert only_deleted and all(e.deleted_at is not None for e in only_deleted)
    enriched = [
        e
        async for e in client.list_experiments(
            project_id=fake.project_id,
            include_user_data=True,
            include_dataset_names=True,
            max_items=5,
        )
    ]
    assert all(e.author is not None and e.author.name and e.dataset_name for e in enriched)
    by_dataset = [e async for e in client.list_experiments(dataset_id=target["dataset_id"])]
    assert by_dataset and {e.dataset_id for e in by_dataset} == {target["dataset_id"]}


async def test_unknown_status_and_nanoseconds_from_the_wire(make_client: ClientFactory) -> None:
    raw = make_experiment(status="paused", created_at="2026-07-20T09:30:04.928462935Z")
    async with FakeLLMObs([raw]) as server:
        client = make_client(server)
        (exp,) = [
            e async for e in client.list_experiments(project_id=raw["attributes"]["project_id"])
        ]
        assert exp.status == "paused"
        assert exp.created_at.microsecond == 928462 and exp.created_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("kwargs", "exc", "argument"),
    [
        ({}, ValueError, "project_id or dataset_id"),
        ({"project_id": ""}, ValueError, "project_id"),
        ({"project_id": "p", "page_size": 0}, ValueError, "page_size"),
        ({"project_id": "p", "page_size": 5001}, ValueError, "page_size"),
        ({"project_id": "p", "page_size": "10"}, TypeError, "page_size"),
        ({"project_id": "p", "max_items": -1}, ValueError, "max_items"),
        ({"project_id": "p", "cursor": ""}, ValueError, "cursor"),
        ({"project_id": "p", "ids": ["a", ""]}, ValueError, "ids"),
        ({"project_id": "p", "parent_experiment_ids": [None]}, ValueError, "parent_experiment_ids"),
        ({"project_id": "p", "metadata": ["a"]}, TypeError, "metadata"),
        ({"project_id": "p", "metadata": {"a": object()}}, ValueError, "metadata"),
        ({"project_id": "p", "is_deleted": "yes"}, TypeError, "is_deleted"),
        ({"project_id": "p", "include_user_data": 0}, TypeError, "include_user_data"),
        ({"project_id": "p", "include_dataset_names": None}, TypeError, "include_dataset_names"),
    ],
)
async def test_invalid_arguments_fail_before_any_request(
    fake: FakeLLMObs,
    client: dd.LLMObsClient,
    kwargs: dict[str, Any],
    exc: type[Exception],
    argument: str,
) -> None:
    with pytest.raises(exc, match=argument):
        async for _ in client.list_experiments(**kwargs):
            pass
    with pytest.raises(exc, match=argument):
        async for _ in client.list_experiment_pages(**kwargs):
            pass
    assert fake.requests == []


async def test_a_single_id_string_is_one_id(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    target = live(fake)[0]["id"]
    assert [
        e.id async for e in client.list_experiments(project_id=fake.project_id, ids=target)
    ] == [target]


async def test_responses_match_the_openapi_schema(fake: FakeLLMObs) -> None:
    """The fake serves documents valid against the extract, so the tests above are honest."""
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(
            fake.url + "/api/v2/llm-obs/v1/experiments",
            params={"filter[project_id]": fake.project_id, "include[user_data]": "true"},
            headers={"DD-API-KEY": fake.api_key, "DD-APPLICATION-KEY": fake.app_key},
        ) as response,
    ):
        validate("LLMObsExperimentsResponse", await response.json(content_type=None))


async def test_gzip_pages_are_requested_and_decoded() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    raw = make_experiments(5, seed=1)
    seen_encodings: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen_encodings.append(request.headers.get("Accept-Encoding", ""))
        response = web.json_response(
            {"data": raw, "meta": {}}, content_type="application/vnd.api+json"
        )
        response.enable_compression(web.ContentCoding.gzip)
        return response

    app = web.Application()
    app.router.add_get("/api/v2/llm-obs/v1/experiments", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        client = dd.LLMObsClient("k", "k", base_url=str(server.make_url("")).rstrip("/"))
        try:
            ids = [e.id async for e in client.list_experiments(project_id="p")]
        finally:
            await client.close()
    assert ids == [e["id"] for e in raw]
    assert "gzip" in seen_encodings[0]
