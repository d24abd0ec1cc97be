"""The fake Datadog (``ddllmobs_async.testing``) driven with a raw aiohttp session."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from yarl import URL

from ddllmobs_async.testing import (
    ANALYTICS_PATH,
    DEFAULT_PROJECT_ID,
    EXPERIMENTS_PATH,
    FAKE_API_KEY,
    FAKE_APP_KEY,
    FakeLLMObs,
    make_eval_events,
    make_experiment,
    make_experiments,
)
from ddllmobs_async.testing._timestamps import parse_ns
from tests.fake_http import RATELIMIT_HEADERS, Reply, keys
from tests.openapi import validate

Params = Sequence[tuple[str, str]] | Mapping[str, str]


async def send(
    http: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    *,
    params: Params | None = None,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
) -> Reply:
    async with http.request(method, url, params=params, headers=headers, data=data) as resp:
        return Reply(resp.status, resp.headers, await resp.read())


async def list_page(
    http: aiohttp.ClientSession,
    fake: FakeLLMObs,
    params: Params,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    headers = keys(fake) if headers is None else headers
    return await send(http, "GET", fake.url + EXPERIMENTS_PATH, params=params, headers=headers)


async def list_ok(http: aiohttp.ClientSession, fake: FakeLLMObs, params: Params) -> Any:
    reply = await list_page(http, fake, params)
    assert reply.status == 200, reply.body
    document = reply.json()
    validate("LLMObsExperimentsResponse", document)
    return document


async def walk(
    http: aiohttp.ClientSession,
    fake: FakeLLMObs,
    params: Sequence[tuple[str, str]],
    cursor: str | None = None,
) -> list[dict[str, Any]]:
    """Follow cursors to the end; return every page's document."""
    pages: list[dict[str, Any]] = []
    for _ in range(1000):
        page_params = [*params, *([("page[cursor]", cursor)] if cursor else [])]
        pages.append(await list_ok(http, fake, page_params))
        cursor = pages[-1]["meta"].get("after")
        if not cursor:
            return pages
    raise AssertionError("pagination never ended")


def ids_of(pages: Sequence[Mapping[str, Any]]) -> list[str]:
    return [experiment["id"] for page in pages for experiment in page["data"]]


async def analytics(
    http: aiohttp.ClientSession,
    fake: FakeLLMObs,
    body: object,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**keys(fake), "Content-Type": "application/json"} if headers is None else headers
    return await send(http, "POST", fake.url + ANALYTICS_PATH, headers=headers, data=raw)


def request_body(**aggregate: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "compute": [{"metric": "count"}],
        "indexes": ["experiment-evals"],
        "search": {"query": "*"},
    }
    base.update(aggregate)
    return {"data": {"type": "experimentation", "attributes": {"aggregate": base}}}


def created_ns(experiment: Mapping[str, Any]) -> int:
    whole, _, fraction = experiment["attributes"]["created_at"].rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(whole + "+00:00").timestamp())
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0") or "0")


def newest_first(experiments: Sequence[Mapping[str, Any]]) -> list[str]:
    ordered = sorted(experiments, key=lambda e: (created_ns(e), e["id"]), reverse=True)
    return [e["id"] for e in ordered]


def live(fake: FakeLLMObs) -> list[dict[str, Any]]:
    return [e for e in fake.experiments if e["attributes"]["deleted_at"] is None]


def assert_error(reply: Reply, status: int, **source: str) -> dict[str, Any]:
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/vnd.api+json"
    document = reply.json()
    validate("JSONAPIErrorResponse", document)
    (error,) = document["errors"]
    assert error["status"] == str(status)
    assert error["title"]
    assert error["detail"]
    if source:
        assert error["source"] == source
    return dict(error)


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMObs]:
    async with FakeLLMObs.seeded(n_experiments=60) as fake:
        yield fake


PROJECT = [("filter[project_id]", DEFAULT_PROJECT_ID)]


# --------------------------------------------------------------------------- lifecycle


async def test_url_and_keys(server: FakeLLMObs) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    assert (server.api_key, server.app_key) == (FAKE_API_KEY, FAKE_APP_KEY)
    assert server.project_id == DEFAULT_PROJECT_ID


async def test_start_close_lifecycle(http: aiohttp.ClientSession) -> None:
    fake = FakeLLMObs(api_key="k", app_key="a")
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.url
    await fake.start()
    with pytest.raises(RuntimeError, match="already started"):
        await fake.start()
    reply = await list_page(http, fake, PROJECT)
    assert reply.status == 200
    assert reply.json() == {"data": [], "meta": {}}
    await fake.close()
    await fake.close()  # idempotent
    with pytest.raises(aiohttp.ClientConnectionError):
        await list_page(http, fake, PROJECT)


@pytest.mark.parametrize(
    "options",
    [
        {"rate_limit": (0, 1.0)},
        {"rate_limit": (1, 0)},
        {"latency": -1},
        {"max_page_size": 0},
        {"last_page_after": "end"},
        {"empty_pages_every": 1},
    ],
)
def test_invalid_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FakeLLMObs(**options)


# --------------------------------------------------------------------------- auth and routing


@pytest.mark.parametrize("endpoint", ["experiments", "analytics"])
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 403),
        ({"DD-API-KEY": "wrong", "DD-APPLICATION-KEY": FAKE_APP_KEY}, 403),
        ({"DD-APPLICATION-KEY": FAKE_APP_KEY}, 403),
        ({"DD-API-KEY": FAKE_API_KEY}, 401),
        ({"DD-API-KEY": FAKE_API_KEY, "DD-APPLICATION-KEY": "wrong"}, 401),
    ],
)
async def test_auth_errors(
    server: FakeLLMObs,
    http: aiohttp.ClientSession,
    endpoint: str,
    headers: dict[str, str],
    status: int,
) -> None:
    if endpoint == "experiments":
        reply = await list_page(http, server, PROJECT, headers=headers)
    else:
        reply = await analytics(http, server, request_body(), headers=headers)
    error = assert_error(reply, status)
    assert error["title"] == ("Forbidden" if status == 403 else "Unauthorized")
    assert not error["detail"].startswith(error["title"])  # no "Forbidden: Forbidden: ..."
    assert all(name in reply.headers for name in RATELIMIT_HEADERS)
    assert server.requests[-1].status == status


async def test_auth_header_names_are_case_insensitive(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    headers = {"dd-api-key": server.api_key, "Dd-Application-Key": server.app_key}
    assert (await list_page(http, server, PROJECT, headers=headers)).status == 200


async def test_unknown_path_and_wrong_method(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    reply = await send(http, "GET", server.url + "/api/v2/llm-obs/v1/nope", headers=keys(server))
    assert_error(reply, 404)
    assert all(name in reply.headers for name in RATELIMIT_HEADERS)
    reply = await send(http, "POST", server.url + EXPERIMENTS_PATH, headers=keys(server))
    assert_error(reply, 405)
    assert server.requests[0].endpoint is None
    assert server.requests[1].endpoint == "experiments"


# --------------------------------------------------------------------------- listing


async def test_project_or_dataset_filter_required(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    reply = await list_page(http, server, {"filter[name]": "x"})
    assert_error(reply, 400, parameter="filter[project_id]")
    dataset_id = server.experiments[0]["attributes"]["dataset_id"]
    document = await list_ok(http, server, {"filter[dataset_id]": dataset_id})
    expected = [e["id"] for e in live(server) if e["attributes"]["dataset_id"] == dataset_id]
    assert [e["id"] for e in document["data"]] == expected
    assert expected


async def test_default_listing(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    reply = await list_page(http, server, PROJECT)
    assert reply.headers["Content-Type"] == "application/vnd.api+json"
    document = reply.json()
    validate("LLMObsExperimentsResponse", document)
    data = document["data"]
    assert document["meta"] == {}
    assert len(data) == len(live(server)) == 60 - 7  # every 8th from the 7th is soft-deleted
    assert [e["id"] for e in data] == newest_first(live(server))
    for experiment in data:
        assert experiment["type"] == "experiments"
        assert "author" not in experiment["attributes"]
        assert "dataset_name" not in experiment["attributes"]
        assert experiment["attributes"]["deleted_at"] is None
    other = await list_ok(http, server, {"filter[project_id]": "another-project"})
    assert other["data"] == []


async def test_include_user_data_and_dataset_names(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    params = [*PROJECT, ("include[user_data]", "true"), ("include[dataset_names]", "true")]
    data = (await list_ok(http, server, params))["data"]
    stored = {e["id"]: e["attributes"] for e in server.experiments}
    for experiment in data:
        attributes = experiment["attributes"]
        assert attributes["author"] == stored[experiment["id"]]["author"]
        assert attributes["dataset_name"] == stored[experiment["id"]]["dataset_name"]
        assert set(attributes["author"]) == {"email", "handle", "icon", "id", "name"}
    only_users = await list_ok(http, server, [*PROJECT, ("include[user_data]", "true")])
    assert all("dataset_name" not in e["attributes"] for e in only_users["data"])
    assert all("author" in e["attributes"] for e in only_users["data"])
    explicit_false = [*PROJECT, ("include[user_data]", "false")]
    data = (await list_ok(http, server, explicit_false))["data"]
    assert all("author" not in e["attributes"] for e in data)


async def test_filter_by_repeated_ids(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    wanted = [e["id"] for e in live(server)][3:6]
    params = [*PROJECT, *(("filter[id]", i) for i in reversed(wanted)), ("filter[id]", "nope")]
    assert [e["id"] for e in (await list_ok(http, server, params))["data"]] == wanted


async def test_filter_by_run_name_and_logical_name(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    target = live(server)[10]["attributes"]
    by_name = await list_ok(http, server, [*PROJECT, ("filter[name]", target["name"])])
    assert [e["attributes"]["name"] for e in by_name["data"]] == [target["name"]]
    prefix = target["name"][:-1]
    assert (await list_ok(http, server, [*PROJECT, ("filter[name]", prefix)]))["data"] == []

    logical = target["experiment"]
    params = [*PROJECT, ("filter[experiment]", logical)]
    data = (await list_ok(http, server, params))["data"]
    expected = [e["id"] for e in live(server) if e["attributes"]["experiment"] == logical]
    assert [e["id"] for e in data] == expected
    assert 1 < len(expected) < len(live(server))


async def test_filter_by_metadata_containment(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    target = live(server)[4]["attributes"]["metadata"]

    async def ids(wanted: dict[str, Any]) -> list[str]:
        params = [*PROJECT, ("filter[metadata]", json.dumps(wanted))]
        return [e["id"] for e in (await list_ok(http, server, params))["data"]]

    def expected(wanted: dict[str, Any]) -> list[str]:
        return [
            e["id"]
            for e in live(server)
            if all(e["attributes"]["metadata"].get(k) == v for k, v in wanted.items())
        ]

    branch_only = {"branch": target["branch"]}
    assert await ids(branch_only) == expected(branch_only)
    assert 1 < len(expected(branch_only)) < len(live(server))
    exact = {"branch": target["branch"], "commit": target["commit"]}
    assert await ids(exact) == expected(exact) == [live(server)[4]["id"]]
    assert await ids({"branch": target["branch"], "commit": "0000000"}) == []
    assert await ids({}) == [e["id"] for e in live(server)]


@pytest.mark.parametrize("value", ["not json", "[1, 2]", '"main"', "{"])
async def test_invalid_metadata_filter(
    server: FakeLLMObs, http: aiohttp.ClientSession, value: str
) -> None:
    reply = await list_page(http, server, [*PROJECT, ("filter[metadata]", value)])
    assert_error(reply, 400, parameter="filter[metadata]")


async def test_filter_by_parent_experiment(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    parents = sorted({e["attributes"]["parent_experiment_id"] for e in live(server)} - {None})
    assert len(parents) >= 2
    params = [*PROJECT, *(("filter[parent_experiment_id]", p) for p in parents[:2])]
    data = (await list_ok(http, server, params))["data"]
    expected = [
        e["id"] for e in live(server) if e["attributes"]["parent_experiment_id"] in parents[:2]
    ]
    assert [e["id"] for e in data] == expected
    assert expected


async def test_filter_is_deleted(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    deleted = await list_ok(http, server, [*PROJECT, ("filter[is_deleted]", "true")])
    expected = [e["id"] for e in server.experiments if e["attributes"]["deleted_at"] is not None]
    assert [e["id"] for e in deleted["data"]] == expected
    assert len(expected) == 7
    assert all(e["attributes"]["deleted_at"] for e in deleted["data"])
    not_deleted = await list_ok(http, server, [*PROJECT, ("filter[is_deleted]", "false")])
    assert [e["id"] for e in not_deleted["data"]] == [e["id"] for e in live(server)]


@pytest.mark.parametrize(
    "name", ["filter[is_deleted]", "include[user_data]", "include[dataset_names]"]
)
@pytest.mark.parametrize("value", ["True", "1", "yes", ""])
async def test_booleans_must_be_true_or_false(
    server: FakeLLMObs, http: aiohttp.ClientSession, name: str, value: str
) -> None:
    reply = await list_page(http, server, [*PROJECT, (name, value)])
    assert_error(reply, 400, parameter=name)


async def test_single_valued_parameter_given_twice(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    reply = await list_page(http, server, [*PROJECT, ("filter[name]", "a"), ("filter[name]", "b")])
    assert_error(reply, 400, parameter="filter[name]")


# --------------------------------------------------------------------------- pagination


async def test_pagination_walk_is_newest_first_and_exact(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    pages = await walk(http, server, [*PROJECT, ("page[limit]", "7")])
    ids = ids_of(pages)
    assert ids == newest_first(live(server))
    assert len(set(ids)) == len(ids) == 53
    assert [len(page["data"]) for page in pages] == [7] * 7 + [4]
    assert pages[-1]["meta"] == {}
    cursors = [page["meta"]["after"] for page in pages[:-1]]
    for cursor in cursors:
        assert set("+/=") <= set(cursor)  # clients must percent-encode it
    requests = server.requests_to("experiments")
    assert [r.param("page[cursor]") for r in requests] == [None, *cursors]


async def test_pagination_with_filters_and_exact_multiple(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    logical = live(server)[0]["attributes"]["experiment"]
    expected = [e["id"] for e in live(server) if e["attributes"]["experiment"] == logical]
    params = [*PROJECT, ("filter[experiment]", logical)]
    exact = await walk(http, server, [*params, ("page[limit]", str(len(expected)))])
    assert ids_of(exact) == expected
    assert len(exact) == 1  # no cursor to an empty page when the last page is exactly full
    assert exact[0]["meta"] == {}
    pages = await walk(http, server, [*params, ("page[limit]", str(len(expected) - 1))])
    assert ids_of(pages) == expected
    assert [len(page["data"]) for page in pages] == [len(expected) - 1, 1]


async def test_created_at_ties_are_broken_by_id(http: aiohttp.ClientSession) -> None:
    same = "2026-01-01T00:00:00.5Z"
    experiments = [
        make_experiment(id=f"id-{c}", created_at=t)
        for c, t in [("a", same), ("c", same), ("b", "2026-01-01T00:00:00.500000000Z")]
    ]
    experiments.append(make_experiment(id="id-z", created_at="2026-01-01T00:00:00Z"))
    async with FakeLLMObs(experiments) as fake:
        pages = await walk(http, fake, [*PROJECT, ("page[limit]", "1")])
    assert ids_of(pages) == ["id-c", "id-b", "id-a", "id-z"]


async def test_seeded_data_has_a_created_at_tie(server: FakeLLMObs) -> None:
    created = [e["attributes"]["created_at"] for e in server.experiments]
    assert len(set(created)) < len(created)


@pytest.mark.parametrize("limit", ["0", "-3", "abc", "1.5", "", "5_000", " 5"])
async def test_invalid_page_limit(
    server: FakeLLMObs, http: aiohttp.ClientSession, limit: str
) -> None:
    reply = await list_page(http, server, [*PROJECT, ("page[limit]", limit)])
    assert_error(reply, 400, parameter="page[limit]")


async def test_page_limit_is_clamped_to_5000(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=5800, events_per_experiment=0) as fake:
        total = len(live(fake))
        huge = await list_page(http, fake, [*PROJECT, ("page[limit]", "100000")])
        assert len(huge.json()["data"]) == 5000
        default = (await list_page(http, fake, PROJECT)).json()
        assert len(default["data"]) == 5000
        params = [*PROJECT, ("page[cursor]", default["meta"]["after"])]
        rest = (await list_page(http, fake, params)).json()
    assert len(rest["data"]) == total - 5000 == 75
    assert "after" not in rest["meta"]


async def test_max_page_size_option_clamps_lower(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=30, max_page_size=4) as fake:
        document = await list_ok(http, fake, [*PROJECT, ("page[limit]", "50")])
        assert len(document["data"]) == 4
        smaller = await list_ok(http, fake, [*PROJECT, ("page[limit]", "3")])
        assert len(smaller["data"]) == 3
        pages = await walk(http, fake, PROJECT)
        assert ids_of(pages) == newest_first(live(fake))
        total = len(live(fake))
        assert [len(page["data"]) for page in pages] == [4] * (total // 4) + [total % 4]
        assert total % 4


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "bm90IG91cnM=",  # valid base64, not one of ours
        "+/+/eyJrIjpudWxsfQ==",  # our prefix, bad payload
        "+/+/e30g",  # our prefix, object without page
    ],
)
async def test_malformed_cursor(
    server: FakeLLMObs, http: aiohttp.ClientSession, cursor: str
) -> None:
    reply = await list_page(http, server, [*PROJECT, ("page[cursor]", cursor)])
    assert_error(reply, 400, parameter="page[cursor]")


async def test_cursor_needs_percent_encoding(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    first = await list_ok(http, server, [*PROJECT, ("page[limit]", "5")])
    cursor = first["meta"]["after"]
    raw = f"{server.url}{EXPERIMENTS_PATH}?filter%5Bproject_id%5D={DEFAULT_PROJECT_ID}"
    unencoded = URL(f"{raw}&page%5Blimit%5D=5&page%5Bcursor%5D={cursor}", encoded=True)
    assert_error(await send(http, "GET", unencoded, headers=keys(server)), 400)
    encoded = URL(
        f"{raw}&page%5Blimit%5D=5&page%5Bcursor%5D="
        + cursor.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"),
        encoded=True,
    )
    reply = await send(http, "GET", encoded, headers=keys(server))
    assert reply.status == 200
    assert reply.json()["data"][0]["id"] == newest_first(live(server))[5]
    assert server.requests[-1].param("page[cursor]") == cursor


async def test_empty_cursor_is_rejected(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    reply = await list_page(http, server, [*PROJECT, ("page[cursor]", "")])
    assert_error(reply, 400, parameter="page[cursor]")


async def test_keyset_pagination_survives_inserts(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    before = newest_first(live(server))
    first = await list_ok(http, server, [*PROJECT, ("page[limit]", "10")])
    server.add_experiments(make_experiment(id="brand-new", created_at="2030-01-01T00:00:00Z"))
    rest = await walk(http, server, [*PROJECT, ("page[limit]", "10")], first["meta"]["after"])
    assert ids_of([first, *rest]) == before
    assert live(server)[0]["id"] == "brand-new"


@pytest.mark.parametrize(
    ("option", "meta"), [("omit", {}), ("", {"after": ""}), (None, {"after": None})]
)
async def test_last_page_after_variants(
    http: aiohttp.ClientSession, option: Any, meta: dict[str, Any]
) -> None:
    async with FakeLLMObs.seeded(n_experiments=6, last_page_after=option) as fake:
        first = await list_ok(http, fake, [*PROJECT, ("page[limit]", "3")])
        assert first["meta"]["after"]
        last = await list_ok(
            http, fake, [*PROJECT, ("page[limit]", "3"), ("page[cursor]", first["meta"]["after"])]
        )
        assert last["meta"] == meta
        assert len(first["data"]) + len(last["data"]) == len(live(fake))


async def test_empty_pages_still_carry_a_cursor(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=40, empty_pages_every=2) as fake:
        pages = await walk(http, fake, [*PROJECT, ("page[limit]", "6")])
        assert ids_of(pages) == newest_first(live(fake))
    # 35 live experiments: 6 pages of data (6 * 5 + 5) with an empty page between each
    assert [len(page["data"]) for page in pages] == [6, 0, 6, 0, 6, 0, 6, 0, 6, 0, 5]
    assert all(page["meta"]["after"] for page in pages[:-1])
    assert pages[-1]["meta"] == {}


# --------------------------------------------------------------------------- analytics

EVENTS: list[dict[str, Any]] = [
    {
        "experiment_id": "A",
        "label": "faithfulness",
        "score_value": 0.5,
        "timestamp": 1000,
        "dataset_version": 1,
        "span_id": "s1",
    },
    {
        "experiment_id": "A",
        "label": "faithfulness",
        "score_value": 1.0,
        "timestamp": 2000,
        "dataset_version": 1,
        "span_id": "s2",
    },
    {
        "experiment_id": "A",
        "label": "relevance",
        "score_value": 0.25,
        "timestamp": 3000,
        "dataset_version": 2,
        "span_id": "s3",
    },
    {
        "experiment_id": "B",
        "label": "faithfulness",
        "score_value": None,
        "timestamp": 4000,
        "dataset_version": 1,
        "span_id": "s4",
    },
    {
        "experiment_id": "B",
        "label": "relevance",
        "score_value": 0.75,
        "timestamp": 5000,
        "dataset_version": 1,
        "span_id": "s5",
    },
    {
        "experiment_id": "B",
        "label": "faithfulness",
        "score_value": 0.0,
        "timestamp": 6000,
        "dataset_version": 2,
        "span_id": "s6",
    },
    {
        "experiment_id": "C",
        "label": "relevance",
        "score_value": None,
        "timestamp": 7000,
        "dataset_version": 1,
        "span_id": "s7",
    },
    {
        "experiment_id": "C",
        "score_value": None,
        "timestamp": 8000,
        "dataset_version": 1,
        "span_id": "s8",
    },
]


@pytest.fixture
async def events_server() -> AsyncIterator[FakeLLMObs]:
    async with FakeLLMObs(eval_events=EVENTS) as fake:
        yield fake


async def run_aggregate(
    http: aiohttp.ClientSession, fake: FakeLLMObs, **aggregate: Any
) -> dict[str, Any]:
    reply = await analytics(http, fake, request_body(**aggregate))
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"] == "application/vnd.api+json"
    document = reply.json()
    validate("LLMObsExperimentationAnalyticsResponse", document)
    assert document["data"]["type"] == "experimentation"
    uuid.UUID(document["data"]["id"])
    return dict(document["data"]["attributes"])


async def test_aggregate_without_group_by(
    events_server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    compute = [{"metric": "count"}, {"metric": "score_value", "name": "avg_score"}]
    result = await run_aggregate(
        http, events_server, compute=compute, search={"query": "@experiment_id:A"}
    )
    assert result["hit_count"] == 3
    assert result["result"]["values"] == [
        {"by": {}, "metrics": {"count": 3, "avg_score": pytest.approx((0.5 + 1.0 + 0.25) / 3)}}
    ]


async def test_aggregate_grouped_by_two_fields(
    events_server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    result = await run_aggregate(
        http,
        events_server,
        compute=[{"metric": "count"}, {"metric": "score_value"}],
        group_by=[{"field": "experiment_id"}, {"field": "label"}],
    )
    assert result["hit_count"] == 8
    assert result["result"]["values"] == [
        {
            "by": {"experiment_id": "A", "label": "faithfulness"},
            "metrics": {"count": 2, "score_value": 0.75},
        },
        {
            "by": {"experiment_id": "A", "label": "relevance"},
            "metrics": {"count": 1, "score_value": 0.25},
        },
        {
            "by": {"experiment_id": "B", "label": "faithfulness"},
            "metrics": {"count": 2, "score_value": 0.0},
        },  # the None score is ignored
        {
            "by": {"experiment_id": "B", "label": "relevance"},
            "metrics": {"count": 1, "score_value": 0.75},
        },
        {
            "by": {"experiment_id": "C", "label": None},  # missing field groups as null
            "metrics": {"count": 1, "score_value": None},
        },
        {
            "by": {"experiment_id": "C", "label": "relevance"},
            "metrics": {"count": 1, "score_value": None},
        },  # no numbers at all -> null
    ]


async def test_aggregate_exclusion_time_range_dataset_version_and_limit(
    events_server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    by_label = {"group_by": [{"field": "label"}], "compute": [{"metric": "count"}]}
    excluded = await run_aggregate(
        http, events_server, search={"query": "-@label:relevance"}, **by_label
    )
    assert excluded["hit_count"] == 5  # the event without a label is not excluded
    assert [v["by"]["label"] for v in excluded["result"]["values"]] == [None, "faithfulness"]
    assert [v["metrics"]["count"] for v in excluded["result"]["values"]] == [1, 4]

    timed = await run_aggregate(http, events_server, time={"from": 2000, "to": 5000})
    assert timed["hit_count"] == 4
    assert timed["result"]["values"] == [{"by": {}, "metrics": {"count": 4}}]

    versioned = await run_aggregate(http, events_server, dataset_version=2)
    assert versioned["hit_count"] == 2

    limited = await run_aggregate(
        http, events_server, group_by=[{"field": "span_id"}], limit=3, dataset_version=None
    )
    assert limited["hit_count"] == 8
    assert [v["by"]["span_id"] for v in limited["result"]["values"]] == ["s1", "s2", "s3"]


@pytest.mark.parametrize(
    ("query", "hits"),
    [
        ("*", 8),
        ("", 8),
        ("@experiment_id:B @label:faithfulness", 2),
        ("@score_value:0.5", 1),
        ('@experiment_id:"C"', 2),
        ("@label:*", 7),
        ("-@label:*", 1),
        ("@experiment_id:A -@span_id:s1", 2),
        ("@unknown:x", 0),
    ],
)
async def test_search_query_terms(
    events_server: FakeLLMObs, http: aiohttp.ClientSession, query: str, hits: int
) -> None:
    result = await run_aggregate(http, events_server, search={"query": query})
    assert result["hit_count"] == hits


@pytest.mark.parametrize(
    ("query", "hits"),
    [
        ("@experiment_id:A OR @experiment_id:C", 5),
        ("@experiment_id:A AND @label:relevance", 1),
        ("NOT @experiment_id:A", 5),
        ("(@experiment_id:A OR @experiment_id:B) -@label:faithfulness", 2),
        ("@experiment_id:(A OR B) @label:relevance", 2),
        ("@span_id:s* -@span_id:s?", 0),
        ("@score_value:>=0.5", 3),
        ('@label:"relevance"', 3),
    ],
)
async def test_search_query_boolean_syntax(
    events_server: FakeLLMObs, http: aiohttp.ClientSession, query: str, hits: int
) -> None:
    result = await run_aggregate(http, events_server, search={"query": query})
    assert result["hit_count"] == hits


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("some free text", "free text 'some'"),
        ("@label:relevance or @label:faithfulness", "free text 'or'"),
        ("(@label:relevance", "parenthesis at position 0 is never closed"),
        ("@score_value:[0 TO 1]", "range '[0 TO 1]'"),
    ],
)
async def test_search_query_not_understood_is_a_400_naming_it(
    events_server: FakeLLMObs, http: aiohttp.ClientSession, query: str, named: str
) -> None:
    reply = await analytics(http, events_server, request_body(search={"query": query}))
    assert reply.status == 400
    (error,) = reply.json()["errors"]
    assert named in error["detail"]
    assert error["source"] == {"pointer": "/data/attributes/aggregate/search/query"}


@pytest.mark.parametrize(
    ("metric_keys", "keys"),
    [("alias", ["n", "score_value", "avg_score"]), ("metric", ["count", "score_value"])],
)
async def test_buckets_key_metrics_by_alias_or_by_metric_name(
    http: aiohttp.ClientSession, metric_keys: Any, keys: list[str]
) -> None:
    compute = [
        {"metric": "count", "name": "n"},
        {"metric": "score_value"},
        {"metric": "score_value", "name": "avg_score"},
    ]
    async with FakeLLMObs(eval_events=EVENTS, metric_keys=metric_keys) as fake:
        result = await run_aggregate(http, fake, compute=compute)
    (bucket,) = result["result"]["values"]
    assert list(bucket["metrics"]) == keys
    assert bucket["metrics"]["score_value"] == pytest.approx(2.5 / 5)


def test_metric_keys_option_is_checked() -> None:
    with pytest.raises(ValueError, match="metric_keys"):
        FakeLLMObs(metric_keys="label")  # type: ignore[arg-type]


async def test_group_by_with_no_hits_has_no_buckets(
    events_server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    result = await run_aggregate(
        http, events_server, search={"query": "@experiment_id:Z"}, group_by=[{"field": "label"}]
    )
    assert result == {"hit_count": 0, "result": {"values": []}}


def _set(path: str, value: object) -> dict[str, Any]:
    """A valid request body with the member at ``path`` (slash-separated) replaced."""
    body = request_body(group_by=[{"field": "label"}], time={"from": 1, "to": 2})
    *parents, last = path.split("/")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


_DELETE = object()
_AGG = "data/attributes/aggregate"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (b"{not json", ""),
        (b"[]", ""),
        ({}, "/data"),
        (_set("data", "x"), "/data"),
        (_set("data/type", "experiments"), "/data/type"),
        (_set("data/type", _DELETE), "/data/type"),
        (_set("data/attributes", _DELETE), "/data/attributes"),
        (_set("data/attributes/aggregate", _DELETE), "/data/attributes/aggregate"),
        (_set(f"{_AGG}/compute", _DELETE), f"/{_AGG}/compute"),
        (_set(f"{_AGG}/compute", []), f"/{_AGG}/compute"),
        (_set(f"{_AGG}/compute", {"metric": "count"}), f"/{_AGG}/compute"),
        (_set(f"{_AGG}/compute/0", {"name": "x"}), f"/{_AGG}/compute/0/metric"),
        (_set(f"{_AGG}/compute/0/metric", 3), f"/{_AGG}/compute/0/metric"),
        (_set(f"{_AGG}/compute/0", "count"), f"/{_AGG}/compute/0"),
        (_set(f"{_AGG}/compute/0/name", 1), f"/{_AGG}/compute/0/name"),
        (_set(f"{_AGG}/indexes", _DELETE), f"/{_AGG}/indexes"),
        (_set(f"{_AGG}/indexes", []), f"/{_AGG}/indexes"),
        (_set(f"{_AGG}/indexes", ["experiment-evals", "spans"]), f"/{_AGG}/indexes/1"),
        (_set(f"{_AGG}/search", _DELETE), f"/{_AGG}/search"),
        (_set(f"{_AGG}/search/query", _DELETE), f"/{_AGG}/search/query"),
        (_set(f"{_AGG}/search/query", 5), f"/{_AGG}/search/query"),
        (_set(f"{_AGG}/time/from", "1"), f"/{_AGG}/time/from"),
        (_set(f"{_AGG}/time/to", 2.5), f"/{_AGG}/time/to"),
        (_set(f"{_AGG}/time/to", _DELETE), f"/{_AGG}/time/to"),
        (_set(f"{_AGG}/time", {"from": 3, "to": 2}), f"/{_AGG}/time"),
        (_set(f"{_AGG}/limit", 0), f"/{_AGG}/limit"),
        (_set(f"{_AGG}/limit", "10"), f"/{_AGG}/limit"),
        (_set(f"{_AGG}/limit", True), f"/{_AGG}/limit"),
        (_set(f"{_AGG}/group_by", "label"), f"/{_AGG}/group_by"),
        (_set(f"{_AGG}/group_by/0", {}), f"/{_AGG}/group_by/0/field"),
        (_set(f"{_AGG}/dataset_version", "3"), f"/{_AGG}/dataset_version"),
    ],
)
async def test_analytics_validation_pointers(
    events_server: FakeLLMObs, http: aiohttp.ClientSession, body: object, pointer: str
) -> None:
    reply = await analytics(http, events_server, body)
    assert_error(reply, 400, pointer=pointer)


async def test_valid_test_body_passes(
    events_server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    reply = await analytics(http, events_server, _set("data/type", "experimentation"))
    assert reply.status == 200


async def test_analytics_over_seeded_events(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=5, events_per_experiment=3) as fake:
        assert len(fake.eval_events) == 15
        result = await run_aggregate(http, fake, group_by=[{"field": "experiment_id"}])
        assert result["hit_count"] == 15
        assert sorted(v["by"]["experiment_id"] for v in result["result"]["values"]) == sorted(
            e["id"] for e in fake.experiments
        )
        assert {v["metrics"]["count"] for v in result["result"]["values"]} == {3}


# --------------------------------------------------------------------------- recording


async def test_recorded_requests(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    params = [*PROJECT, ("filter[id]", "a b"), ("filter[id]", "c+d"), ("page[limit]", "2")]
    await list_page(http, server, params, headers={**keys(server), "X-Trace": "t1"})
    await analytics(http, server, request_body())
    await send(http, "GET", server.url + "/elsewhere")

    first, second, third = server.requests
    assert (first.method, first.path, first.endpoint) == ("GET", EXPERIMENTS_PATH, "experiments")
    assert first.query == tuple(params)
    assert first.params("filter[id]") == ["a b", "c+d"]
    assert first.params("missing") == []
    assert first.headers["x-trace"] == "t1"
    assert first.headers["dd-api-key"] == server.api_key
    assert (first.body, first.json, first.status, first.fault) == (b"", None, 200, None)

    assert (second.method, second.endpoint, second.status) == ("POST", "analytics", 200)
    assert second.json == request_body()
    assert json.loads(second.body) == request_body()
    assert (third.endpoint, third.status) == (None, 404)

    assert server.requests_to("analytics") == [second]
    assert server.requests_to("experiments") == [first]
    assert server.stats.by_status == {200: 2, 404: 1}
    assert server.stats.requests == 3
    server.reset_requests()
    assert server.requests == []
    assert server.stats.requests == 0


# --------------------------------------------------------------------------- data builders


def test_make_experiment_defaults_and_overrides() -> None:
    experiment = make_experiment(name="run-1", status="failed", error="boom", id="e1")
    validate("LLMObsExperimentDataResponse", experiment)
    assert experiment["id"] == "e1"
    assert experiment["type"] == "experiments"
    attributes = experiment["attributes"]
    assert set(attributes) == {
        "aggregate_data",
        "author",
        "config",
        "created_at",
        "dataset_id",
        "dataset_name",
        "dataset_version",
        "deleted_at",
        "description",
        "error",
        "experiment",
        "metadata",
        "name",
        "parent_experiment_id",
        "project_id",
        "run_count",
        "status",
        "updated_at",
    }
    assert (attributes["name"], attributes["status"], attributes["error"]) == (
        "run-1",
        "failed",
        "boom",
    )
    assert make_experiment()["id"] != make_experiment()["id"]
    with pytest.raises(TypeError, match="colour"):
        make_experiment(colour="red")


def test_make_experiments_is_deterministic_and_varied() -> None:
    experiments = make_experiments(40, seed=3)
    assert experiments == make_experiments(40, seed=3)
    assert experiments != make_experiments(40, seed=4)
    validate("LLMObsExperimentsResponse", {"data": experiments})
    attributes = [e["attributes"] for e in experiments]
    assert {a["status"] for a in attributes} == {"running", "completed", "failed", "interrupted"}
    assert all(a["error"] for a in attributes if a["status"] == "failed")
    assert all(a["error"] is None for a in attributes if a["status"] != "failed")
    assert len({a["dataset_id"] for a in attributes}) == 3
    assert len({a["experiment"] for a in attributes}) == 3
    assert all({"branch", "commit"} <= set(a["metadata"]) for a in attributes)
    assert sum(a["deleted_at"] is not None for a in attributes) == 5
    ids = {e["id"] for e in experiments}
    parents = [a["parent_experiment_id"] for a in attributes if a["parent_experiment_id"]]
    assert parents
    assert set(parents) <= ids
    fractions = {len(a["created_at"].rstrip("Z").partition(".")[2]) for a in attributes}
    assert fractions == {0, 6, 9}
    assert all(a["created_at"].endswith("Z") for a in attributes)
    assert {a["project_id"] for a in attributes} == {DEFAULT_PROJECT_ID}
    assert make_experiments(3, project_id="p")[0]["attributes"]["project_id"] == "p"


def test_make_eval_events() -> None:
    experiments = make_experiments(4)
    events = make_eval_events(experiments, per_experiment=5, seed=1)
    assert events == make_eval_events(experiments, per_experiment=5, seed=1)
    assert len(events) == 20
    assert {e["label"] for e in events} == {"faithfulness", "relevance"}
    for event in events:
        assert set(event) == {
            "experiment_id",
            "span_id",
            "trace_id",
            "label",
            "score_value",
            "dataset_version",
            "project_id",
            "dataset_id",
            "timestamp",
        }
        assert event["score_value"] is None or 0.0 <= event["score_value"] <= 1.0
        assert isinstance(event["timestamp"], int)
    assert [e["experiment_id"] for e in events[:5]] == [experiments[0]["id"]] * 5


def test_invalid_experiments_are_rejected() -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        FakeLLMObs([make_experiment(created_at="yesterday")])
    with pytest.raises(ValueError, match="duplicate"):
        FakeLLMObs([make_experiment(id="x"), make_experiment(id="x")])
    with pytest.raises(ValueError, match="'id'"):
        FakeLLMObs([{"attributes": {}}])


# --------------------------------------------------------------------------- anchored to now


async def test_seeded_data_leads_up_to_now_so_recent_windows_find_it(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeLLMObs.seeded(n_experiments=25) as fake:
        newest = max(parse_ns(e["attributes"]["created_at"]) for e in fake.experiments)
        age = datetime.now(UTC).timestamp() - newest / 1e9
        assert 0 < age < 3600  # not pinned to a date in the past
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        window = {"from": now_ms - 86_400_000, "to": now_ms}
        result = await run_aggregate(http, fake, time=window)
    assert 0 < result["hit_count"] <= len(fake.eval_events)
    assert all(e["timestamp"] < now_ms for e in fake.eval_events)


def test_seeded_data_is_reproducible_for_a_fixed_now() -> None:
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = FakeLLMObs.seeded(n_experiments=5, seed=3, now=now)
    again = FakeLLMObs.seeded(n_experiments=5, seed=3, now=now)
    assert first.experiments == again.experiments
    assert first.eval_events == again.eval_events
    assert first.experiments[0]["attributes"]["created_at"] == "2030-01-02T02:59:05.000000000Z"
    with pytest.raises(ValueError, match="aware"):
        FakeLLMObs.seeded(n_experiments=1, now=datetime(2030, 1, 2))


async def test_keys_can_be_changed_while_serving(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=3) as fake:
        old = keys(fake)
        fake.api_key, fake.app_key = "rotated-api-key", "rotated-app-key"
        async with http.get(fake.url + EXPERIMENTS_PATH, params=PROJECT, headers=old) as resp:
            assert resp.status == 403
        async with http.get(
            fake.url + EXPERIMENTS_PATH, params=PROJECT, headers=keys(fake)
        ) as resp:
            assert resp.status == 200
