"""The paths kept for throughput (fast converter, GC pause, page release) behave like plain ones."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest

import ddllmobs_async as dd
from ddllmobs_async import _converters
from ddllmobs_async._converters.analytics import structure_aggregate_result
from ddllmobs_async._converters.experiments import structure_experiment, structure_experiment_page
from ddllmobs_async._endpoints.experiments import EXPERIMENT_PAGES
from ddllmobs_async._gate import RateLimitGate
from ddllmobs_async._json import decode_json
from ddllmobs_async._pagination import PageSource, iter_items, iter_pages
from ddllmobs_async._responses import Answer, decoded_body, gc_paused
from ddllmobs_async.errors import ResponseValidationError
from ddllmobs_async.models import Experiment, ExperimentPage
from ddllmobs_async.testing import FakeLLMObs, make_experiment, make_experiments
from tests.fake_http import window_headers

VARIANTS: list[dict[str, Any]] = [
    {},
    {"config": None, "metadata": None, "aggregate_data": None},
    {"status": "paused", "author": None, "run_count": None, "dataset_version": None},
    {"status": None, "description": None, "error": "boom", "parent_experiment_id": "p-1"},
    {"created_at": "2026-07-20T09:30:04.928462935+02:00", "deleted_at": "2026-07-21T00:00:00Z"},
    {
        "updated_at": "2026-07-20T09:30:04",
        "author": {"id": "u-1", "name": "Ada", "handle": "ada@example.com"},
    },
]


def _item(overrides: dict[str, Any]) -> dict[str, Any]:
    item = make_experiment(**overrides)
    item["attributes"]["unknown_field"] = {"ignored": True}
    return item


def _detailed(item: dict[str, Any]) -> Experiment:
    fields = {**item["attributes"], "id": item["id"]}
    return _converters._detailed_converter.structure(fields, Experiment)


@pytest.mark.parametrize("overrides", VARIANTS)
def test_fast_converter_matches_the_detailed_one(overrides: dict[str, Any]) -> None:
    item = _item(overrides)
    page = dd.parse_experiment_page(orjson.dumps({"data": [item], "meta": {}}))
    assert page.experiments == [_detailed(item)]


def test_fast_converter_keeps_the_documented_shapes() -> None:
    item = _item({"config": None, "metadata": None, "status": "paused", "aggregate_data": None})
    (exp,) = structure_experiment_page({"data": [item]}).experiments
    assert (exp.config, exp.metadata, exp.aggregate_data) == ({}, {}, None)
    assert exp.status == "paused" and not isinstance(exp.status, dd.ExperimentStatus)
    assert exp.created_at.utcoffset() is not None


def test_a_page_of_many_items_matches_the_detailed_converter() -> None:
    items = make_experiments(40, seed=9)
    page = structure_experiment_page({"data": items})
    assert page.experiments == [_detailed(item) for item in items]


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"created_at": "not a date"}, "$.data[3].attributes.created_at"),
        ({"run_count": "five"}, "$.data[3].attributes.run_count"),
        ({"author": {"id": 7}}, "$.data[3].attributes.author.id"),
    ],
)
def test_a_fast_path_failure_still_names_the_field(bad: dict[str, Any], path: str) -> None:
    items = make_experiments(5, seed=1)
    items[3]["attributes"].update(bad)
    with pytest.raises(ResponseValidationError) as info:
        structure_experiment_page({"data": items})
    assert info.value.path == path


def test_a_malformed_resource_is_named_by_the_fallback() -> None:
    items: list[Any] = make_experiments(3, seed=1)
    items[2] = {"id": 5, "attributes": {}}
    with pytest.raises(ResponseValidationError) as info:
        structure_experiment_page({"data": items})
    assert info.value.path == "$.data[2].id"


@pytest.fixture
def gc_on() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.enable()
    yield
    if not was_enabled:
        gc.disable()


@pytest.mark.usefixtures("gc_on")
def test_gc_is_paused_inside_and_restored_after_even_on_error() -> None:
    with gc_paused(10**6):
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ResponseValidationError), gc_paused(10**6):
        decode_json(b"<html>")
    assert gc.isenabled()


@pytest.mark.usefixtures("gc_on")
def test_a_gc_disabled_by_the_user_stays_disabled() -> None:
    gc.disable()
    with gc_paused(10**6):
        pass
    assert not gc.isenabled()
    dd.parse_experiment_page(orjson.dumps({"data": make_experiments(2)}))
    assert not gc.isenabled()


def test_unreadable_bodies_and_error_statuses_raise_their_errors() -> None:
    with pytest.raises(ResponseValidationError, match="not JSON"):
        decoded_body(Answer(200, {}, b"<html>"), method="GET", path="/x")
    with pytest.raises(dd.ServerError):
        decoded_body(Answer(502, {}, b"<html>"), method="GET", path="/x")
    assert decoded_body(Answer(200, {}, b"[1]"), method="GET", path="/x") == [1]


async def test_a_schema_error_is_never_retried(make_client: Any) -> None:
    broken = make_experiment(run_count="five")
    async with FakeLLMObs([broken]) as server:
        client = make_client(server)
        with pytest.raises(ResponseValidationError) as info:
            await client.list_experiments(project_id=broken["attributes"]["project_id"]).__anext__()
        assert info.value.path == "$.data[0].attributes.run_count"
        assert len(server.requests) == 1


async def test_cold_gate_wakes_waiters_on_the_answer() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    waiters = [asyncio.create_task(gate.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    gate.observe(window_headers(limit=10, remaining=9, reset=1.0), status=200)
    await asyncio.sleep(0)
    assert all(w.done() for w in waiters)  # woken by the answer itself, not by polling
    for waiter in waiters:
        await waiter


async def test_abandoned_probe_releases_every_waiter() -> None:
    gate = RateLimitGate(max_wait=60)
    await gate.acquire()
    waiters = [asyncio.create_task(gate.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    gate.abandon()  # the probe got no answer: it must not hold the others back
    await asyncio.sleep(0)
    assert all(w.done() for w in waiters)
    for waiter in waiters:
        await waiter


async def test_a_used_up_page_is_released_before_the_next_fetch() -> None:
    built: list[weakref.ref[ExperimentPage]] = []
    alive_at_fetch: list[bool] = []
    experiments = [structure_experiment(make_experiment()) for _ in range(4)]

    async def fetch_body(cursor: str | None, limit: int | None) -> dict[str, Any]:
        alive_at_fetch.append(any(ref() is not None for ref in built))
        index = int(cursor or 0)
        return {"index": index, "meta": {"after": str(index + 2) if index < 2 else None}}

    def structure(body: dict[str, Any], *, cursor: str | None) -> ExperimentPage:
        index = body["index"]
        page = ExperimentPage(
            experiments=experiments[index : index + 2],
            next_cursor=body["meta"]["after"],
            cursor=cursor,
        )
        built.append(weakref.ref(page))
        return page

    pages = iter_pages(
        PageSource(fetch_body, structure, lambda body: 2, lambda body, parts: [body]),
        EXPERIMENT_PAGES,
        page_size=2,
        cursor=None,
        max_items=None,
        max_empty_pages=3,
    )
    seen = [exp async for exp in iter_items(pages, EXPERIMENT_PAGES)]
    assert seen == experiments
    assert alive_at_fetch == [False, False]


async def test_own_and_caller_sessions_send_the_same_headers(fake: FakeLLMObs) -> None:
    query = dd.AggregateQuery(compute=["score_value"], indexes=["experiment-evals"], query="*")
    async with aiohttp.ClientSession() as caller_session:
        for session in (None, caller_session):
            fake.reset_requests()
            async with dd.LLMObsClient(
                fake.api_key, fake.app_key, base_url=fake.url, session=session
            ) as client:
                await client.aggregate(query)
                async for _ in client.list_experiments(project_id="p", max_items=1):
                    pass
            post, get = fake.requests
            for request in (post, get):
                assert request.headers["DD-API-KEY"] == fake.api_key
                assert request.headers["DD-APPLICATION-KEY"] == fake.app_key
                assert request.headers["User-Agent"].startswith("ddllmobs-async/")
            assert post.headers["Content-Type"] == "application/json"
            assert "Content-Type" not in get.headers


AGGREGATE_BODIES: list[Any] = [
    {"data": {"id": "r", "attributes": {"hit_count": 3, "result": {"values": []}}}},
    {
        "data": {
            "id": "r",
            "attributes": {
                "hit_count": 7,
                "result": {
                    "values": [
                        {"by": {"experiment_id": "e-1"}, "metrics": {"avg": 0.5}},
                        {"by": None, "metrics": {"avg": None}},
                        {"metrics": {}},
                    ]
                },
            },
        }
    },
]


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ([{"by": {}, "metrics": []}], "$.data.attributes.result.values[0].metrics"),
        ([{"metrics": {}}, {"by": 3, "metrics": {}}], "$.data.attributes.result.values[1].by"),
        ("nope", "$.data.attributes.result.values"),
    ],
)
def test_a_bad_aggregate_result_still_names_the_field(values: Any, path: str) -> None:
    data = {"data": {"id": "r", "attributes": {"hit_count": 1, "result": {"values": values}}}}
    with pytest.raises(ResponseValidationError) as info:
        structure_aggregate_result(data)
    assert info.value.path == path


@pytest.mark.usefixtures("gc_on")
def test_only_large_bodies_pause_the_gc() -> None:
    seen: list[bool] = []

    def parse(data: Any) -> Any:
        seen.append(gc.isenabled())
        return data

    small = orjson.dumps({"data": []})
    large = orjson.dumps({"data": ["x" * 100] * 1000})
    for body in (small, large):
        with gc_paused(len(body)):
            parse(decode_json(body))
    assert seen == [True, False]
    assert gc.isenabled()


async def test_the_fast_path_takes_the_budget_then_requests_wait() -> None:
    gate = RateLimitGate(max_wait=60)
    assert (await gate.acquire()).waited == 0.0  # the cold-start probe
    gate.observe(window_headers(limit=5, remaining=1, reset=60.0), status=200)
    assert (await gate.acquire()).waited == 0.0
    with pytest.raises(asyncio.TimeoutError):  # the budget is spent: held until the reset
        await asyncio.wait_for(gate.acquire(), 0.05)
    gate.close()
