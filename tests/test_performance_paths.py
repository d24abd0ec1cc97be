"""The fast paths added for throughput behave exactly like the plain ones they replace."""

from __future__ import annotations

import asyncio
import gc
import random
import weakref
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest

import ddllmobs_async as dd
from ddllmobs_async import _converters
from ddllmobs_async._pagination import iter_items, iter_pages
from ddllmobs_async._ratelimit import RateLimitGate
from ddllmobs_async._responses import DeferredError, interpret_response
from ddllmobs_async._retry import RetryPolicy, retry_call
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
    page = _converters.structure_experiment_page(orjson.dumps({"data": [item], "meta": {}}))
    assert page.experiments == [_detailed(item)]


def test_fast_converter_keeps_the_documented_shapes() -> None:
    item = _item({"config": None, "metadata": None, "status": "paused", "aggregate_data": None})
    (exp,) = _converters.structure_experiment_page({"data": [item]}).experiments
    assert (exp.config, exp.metadata, exp.aggregate_data) == ({}, {}, None)
    assert exp.status == "paused" and not isinstance(exp.status, dd.ExperimentStatus)
    assert exp.created_at.utcoffset() is not None


def test_a_page_of_many_items_matches_the_detailed_converter() -> None:
    items = make_experiments(40, seed=9)
    page = _converters.structure_experiment_page({"data": items})
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
        _converters.structure_experiment_page({"data": items})
    assert info.value.path == path


def test_a_malformed_resource_is_named_by_the_fallback() -> None:
    items: list[Any] = make_experiments(3, seed=1)
    items[2] = {"id": 5, "attributes": {}}
    with pytest.raises(ResponseValidationError) as info:
        _converters.structure_experiment_page({"data": items})
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
    with _converters.gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ResponseValidationError), _converters.gc_paused():
        _converters.decode_json(b"<html>")
    assert gc.isenabled()


@pytest.mark.usefixtures("gc_on")
def test_a_gc_disabled_by_the_user_stays_disabled() -> None:
    gc.disable()
    with _converters.gc_paused():
        pass
    assert not gc.isenabled()
    _converters.structure_experiment_page(orjson.dumps({"data": make_experiments(2)}))
    assert not gc.isenabled()


def test_unreadable_bodies_raise_but_schema_errors_are_deferred() -> None:
    def parse(data: Any) -> Any:
        raise ResponseValidationError("bad", path="$.data")

    with pytest.raises(ResponseValidationError, match="not JSON"):
        interpret_response(200, {}, b"<html>", parse, method="GET", path="/x")
    deferred = interpret_response(200, {}, b"{}", parse, method="GET", path="/x")
    assert isinstance(deferred, DeferredError)
    assert isinstance(deferred.error, ResponseValidationError)
    assert deferred.error.path == "$.data"
    assert interpret_response(200, {}, b"[1]", len, method="GET", path="/x") == 1


async def test_a_schema_error_is_never_retried(make_client: Any) -> None:
    broken = make_experiment(run_count="five")
    async with FakeLLMObs([broken]) as server:
        client = make_client(server)
        with pytest.raises(ResponseValidationError) as info:
            await client.list_experiments(project_id=broken["attributes"]["project_id"]).__anext__()
        assert info.value.path == "$.data[0].attributes.run_count"
        assert len(server.requests) == 1


async def test_cold_gate_wakes_waiters_on_the_answer_without_polling() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    gate = RateLimitGate(sleep=sleep)
    await gate.acquire()
    waiters = [asyncio.create_task(gate.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    gate.observe(window_headers(limit=10, remaining=9, reset=1.0), status=200)
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert sleeps == []


async def test_abandoned_probe_hands_over_to_exactly_one_waiter() -> None:
    gate = RateLimitGate()
    await gate.acquire()
    first, second = (asyncio.create_task(gate.acquire()) for _ in range(2))
    await asyncio.sleep(0)
    gate.abandon()
    await asyncio.wait_for(first, 1)
    await asyncio.sleep(0)
    assert not second.done()  # the new probe is in flight
    gate.observe({}, status=200)
    await asyncio.wait_for(second, 1)


async def test_a_used_up_page_is_released_before_the_next_fetch() -> None:
    fetched: list[weakref.ref[ExperimentPage]] = []
    alive_at_fetch: list[bool] = []
    experiments = [_converters.structure_experiment(make_experiment()) for _ in range(4)]

    async def fetch_page(cursor: str | None, limit: int | None) -> ExperimentPage:
        alive_at_fetch.append(any(ref() is not None for ref in fetched))
        index = int(cursor or 0)
        page = ExperimentPage(
            experiments=experiments[index : index + 2],
            next_cursor=str(index + 2) if index < 2 else None,
            cursor=cursor,
        )
        fetched.append(weakref.ref(page))
        return page

    pages = iter_pages(fetch_page, page_size=2, cursor=None, max_items=None)
    seen = [exp async for exp in iter_items(pages)]
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


@pytest.mark.parametrize("data", AGGREGATE_BODIES)
def test_fast_aggregate_result_matches_the_checked_one(data: Any) -> None:
    fast = _converters.structure_aggregate_result(data)
    assert fast == _converters._structure_aggregate_result_checked(data)
    assert _converters._aggregate_result_fast(data) == fast


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
    assert _converters._aggregate_result_fast(data) is None
    with pytest.raises(ResponseValidationError) as info:
        _converters.structure_aggregate_result(data)
    assert info.value.path == path


def test_an_aggregate_result_in_dict_subclasses_takes_the_checked_path() -> None:
    class Doc(dict[str, Any]):
        pass

    data = Doc(AGGREGATE_BODIES[1])
    assert _converters._aggregate_result_fast(data) is None
    assert _converters.structure_aggregate_result(data) == _converters.structure_aggregate_result(
        AGGREGATE_BODIES[1]
    )


@pytest.mark.usefixtures("gc_on")
def test_only_large_bodies_pause_the_gc() -> None:
    seen: list[bool] = []

    def parse(data: Any) -> Any:
        seen.append(gc.isenabled())
        return data

    small = orjson.dumps({"data": []})
    large = orjson.dumps({"data": ["x" * 100] * 1000})
    assert interpret_response(200, {}, small, parse, method="GET", path="/x") == {"data": []}
    interpret_response(200, {}, large, parse, method="GET", path="/x")
    assert seen == [True, False]
    assert gc.isenabled()


async def test_try_acquire_takes_what_acquire_would_and_nothing_else() -> None:
    gate = RateLimitGate()
    assert gate.try_acquire()  # the cold-start probe
    assert not gate.try_acquire()  # everyone else waits for its answer
    gate.observe(window_headers(limit=5, remaining=1, reset=60.0), status=200)
    assert gate.try_acquire()
    assert not gate.try_acquire()  # the budget is spent
    gate.abandon()  # an answerless attempt gives its slot back
    assert gate.try_acquire()


async def test_a_deferred_error_ends_the_retry_loop_without_a_retry() -> None:
    calls: list[str] = []

    async def attempt(name: str) -> Any:
        calls.append(name)
        return DeferredError(ResponseValidationError("bad", path="$.data"))

    async def sleep(seconds: float) -> None:
        raise AssertionError("no retry expected")

    with pytest.raises(ResponseValidationError):
        await retry_call(
            attempt, "a", policy=RetryPolicy(), sleep=sleep, method="GET", path="/x",
            rng=random.Random(0), on_wait=lambda s: None, on_rate_limited=lambda s: None,
        )  # fmt: skip
    assert calls == ["a"]
