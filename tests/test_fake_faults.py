"""Faults, rate limiting, latency and shutdown of the fake Datadog, seen from raw aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ddllmobs_async.testing import (
    ANALYTICS_PATH,
    DEFAULT_PROJECT_ID,
    EXPERIMENTS_PATH,
    FakeLLMObs,
    Fault,
)
from tests.fake_http import RATELIMIT_HEADERS, Reply, keys
from tests.openapi import validate

PROJECT = {"filter[project_id]": DEFAULT_PROJECT_ID, "page[limit]": "2"}
AGGREGATE = {
    "data": {
        "type": "experimentation",
        "attributes": {
            "aggregate": {
                "compute": [{"metric": "count"}],
                "indexes": ["experiment-evals"],
                "search": {"query": "*"},
            }
        },
    }
}


async def get(http: aiohttp.ClientSession, fake: FakeLLMObs, **options: Any) -> Reply:
    url = fake.url + EXPERIMENTS_PATH
    async with http.get(url, params=PROJECT, headers=keys(fake), **options) as resp:
        return Reply(resp.status, resp.headers, await resp.read())


async def post(http: aiohttp.ClientSession, fake: FakeLLMObs) -> Reply:
    url = fake.url + ANALYTICS_PATH
    async with http.post(url, json=AGGREGATE, headers=keys(fake)) as resp:
        return Reply(resp.status, resp.headers, await resp.read())


def ratelimit(reply: Reply) -> dict[str, str]:
    return {name: reply.headers[name] for name in RATELIMIT_HEADERS}


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMObs]:
    async with FakeLLMObs.seeded(n_experiments=10) as fake:
        yield fake


# --------------------------------------------------------------------------- status faults


async def test_status_fault_then_normal(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    server.inject(Fault.status(503))
    assert server.pending_faults == 1
    reply = await get(http, server)
    assert reply.status == 503
    assert reply.headers["Content-Type"] == "application/vnd.api+json"
    assert all(name in reply.headers for name in RATELIMIT_HEADERS)
    document = reply.json()
    validate("JSONAPIErrorResponse", document)
    assert document["errors"][0]["status"] == "503"
    assert document["errors"][0]["title"] == "Service Unavailable"
    assert (await get(http, server)).status == 200
    assert [(r.status, r.fault) for r in server.requests] == [(503, "status"), (200, None)]
    assert server.pending_faults == 0


async def test_status_fault_with_custom_errors(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    errors = [{"title": "Generic Error", "detail": "invalid prompt template"}]
    server.inject(Fault.status(400, errors=errors))
    server.inject(Fault.status(403, errors=["Forbidden"]))  # what Datadog's edge often sends
    reply = await get(http, server)
    assert reply.status == 400
    assert reply.json() == {"errors": errors}
    validate("JSONAPIErrorResponse", reply.json())
    reply = await get(http, server)
    assert (reply.status, reply.json()) == (403, {"errors": ["Forbidden"]})
    validate("APIErrorResponse", reply.json())


async def test_faults_are_consumed_in_order(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    server.inject(Fault.status(500), Fault.status(502))
    server.inject(Fault.status(504))
    statuses = [(await get(http, server)).status for _ in range(4)]
    assert statuses == [500, 502, 504, 200]
    assert server.stats.by_status == {500: 1, 502: 1, 504: 1, 200: 1}
    assert server.stats.faults == {"status": 3}


async def test_faults_can_target_one_endpoint(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    server.inject(Fault.status(500), endpoint="analytics")
    server.inject(Fault.status(502))
    assert (await get(http, server)).status == 502
    assert (await get(http, server)).status == 200
    assert (await post(http, server)).status == 500
    assert (await post(http, server)).status == 200
    assert [r.fault for r in server.requests_to("analytics")] == ["status", None]


async def test_faults_are_served_before_auth(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    server.inject(Fault.status(500))
    async with http.get(server.url + EXPERIMENTS_PATH) as resp:
        assert resp.status == 500


async def test_clear_faults(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    server.inject(Fault.status(500), Fault.status(500))
    server.fail_randomly(1.0)
    server.clear_faults()
    assert server.pending_faults == 0
    assert (await get(http, server)).status == 200


# --------------------------------------------------------------------------- 429 faults


async def test_rate_limited_fault_is_empty_like_datadog(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    server.inject(Fault.rate_limited(reset=0.25, limit=12))
    reply = await get(http, server)
    assert reply.status == 429
    assert reply.body == b""
    assert ratelimit(reply) == {
        "x-ratelimit-limit": "12",
        "x-ratelimit-period": "60",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "0.25",
        "x-ratelimit-name": "llm_obs_experiments_list",
    }
    assert server.stats.rate_limited == 1
    assert server.requests[-1].fault == "rate_limited"


async def test_rate_limited_fault_with_json_body(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    server.inject(Fault.rate_limited(json_body=True))
    reply = await post(http, server)
    assert reply.status == 429
    assert reply.headers["x-ratelimit-reset"] == "1"
    assert reply.headers["x-ratelimit-limit"] == "1000000"
    assert reply.json() == {"errors": ["Too many requests"]}
    validate("APIErrorResponse", reply.json())


async def test_retry_after_fault_has_no_ratelimit_headers(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    server.inject(Fault.retry_after(2), Fault.retry_after(0.5))
    first, second = await get(http, server), await get(http, server)
    assert (first.status, first.headers["Retry-After"], first.body) == (429, "2", b"")
    assert second.headers["Retry-After"] == "0.5"
    assert not any(name in first.headers for name in RATELIMIT_HEADERS)


# --------------------------------------------------------------------------- broken transports


async def test_reset_drops_the_connection(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    server.inject(Fault.reset())
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(http, server)  # POST is not idempotent: aiohttp does not retry it
    assert (await post(http, server)).status == 200
    assert [(r.status, r.fault) for r in server.requests] == [(None, "reset"), (200, None)]
    assert server.stats.connection_resets == 1


async def test_get_needs_two_resets_because_aiohttp_retries_once(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    server.inject(Fault.reset(), Fault.reset())
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(http, server)
    assert [r.fault for r in server.requests] == ["reset", "reset"]
    assert (await get(http, server)).status == 200


async def test_truncated_body(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    server.inject(Fault.truncated())
    async with http.get(server.url + EXPERIMENTS_PATH, params=PROJECT) as resp:
        assert resp.status == 200
        assert resp.content_length is not None
        assert resp.content_length > 100
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert server.stats.truncated == 1
    assert server.requests[-1].status == 200
    assert (await get(http, server)).status == 200


@pytest.mark.parametrize("status", [200, 500])
async def test_non_json_body(server: FakeLLMObs, http: aiohttp.ClientSession, status: int) -> None:
    server.inject(Fault.non_json(status=status))
    reply = await get(http, server)
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith("text/plain")
    with pytest.raises(ValueError):
        reply.json()


@pytest.mark.parametrize("status", [502, 504])
async def test_html_gateway_page(
    server: FakeLLMObs, http: aiohttp.ClientSession, status: int
) -> None:
    server.inject(Fault.html(status=status))
    reply = await get(http, server)
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.body.startswith(b"<html>")
    assert str(status).encode() in reply.body


async def test_redirect(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    target = f"{EXPERIMENTS_PATH}?filter%5Bproject_id%5D={DEFAULT_PROJECT_ID}"
    server.inject(Fault.redirect(target, status=307), Fault.redirect(server.url + target))
    first = await get(http, server, allow_redirects=False)
    assert (first.status, first.headers["Location"]) == (307, target)
    async with http.get(server.url + EXPERIMENTS_PATH, headers=keys(server)) as resp:
        assert resp.status == 200
        assert [r.status for r in resp.history] == [302]
    assert [r.status for r in server.requests] == [307, 302, 200]


def test_fault_constructors_validate() -> None:
    with pytest.raises(ValueError):
        Fault.status(99)
    with pytest.raises(ValueError):
        Fault.redirect("/x", status=200)
    with pytest.raises(ValueError):
        Fault.delay(-1)
    with pytest.raises(ValueError):
        Fault.rate_limited(reset=-0.1)
    assert Fault.status(500) == Fault.status(500)
    assert len({Fault.reset(), Fault.reset(), Fault.truncated()}) == 2
    assert Fault.html().name == "html"


# --------------------------------------------------------------------------- delays


async def test_delay_then_normal_answer(server: FakeLLMObs, http: aiohttp.ClientSession) -> None:
    server.inject(Fault.delay(0.15))
    started = time.monotonic()
    reply = await get(http, server)
    assert time.monotonic() - started >= 0.15
    assert reply.status == 200
    assert (server.requests[-1].status, server.requests[-1].fault) == (200, "delay")


async def test_delay_beyond_client_timeout_is_quiet(
    server: FakeLLMObs, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    server.inject(Fault.delay(0.2))
    with pytest.raises(TimeoutError):
        await get(http, server, timeout=aiohttp.ClientTimeout(total=0.05))
    await asyncio.sleep(0.3)  # the fake answers into the closed connection
    assert (await get(http, server)).status == 200
    assert problems(caplog) == []


async def test_latency_delays_every_answer(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=3, latency=0.1) as fake:
        started = time.monotonic()
        assert (await get(http, fake)).status == 200
        async with http.get(fake.url + "/unknown") as resp:
            assert resp.status == 404
        assert time.monotonic() - started >= 0.2


# --------------------------------------------------------------------------- random faults


async def _soak(fake: FakeLLMObs, http: aiohttp.ClientSession, n: int) -> list[str | None]:
    for _ in range(n):
        with contextlib.suppress(aiohttp.ClientError):
            await post(http, fake)
    return [r.fault for r in fake.requests]


async def test_fail_randomly_is_seeded(http: aiohttp.ClientSession) -> None:
    runs = []
    for _ in range(2):
        async with FakeLLMObs.seeded(n_experiments=3) as fake:
            fake.fail_randomly(0.6, seed=7)
            runs.append(await _soak(fake, http, 40))
    assert runs[0] == runs[1]
    kinds = set(runs[0])
    assert None in kinds
    assert len(kinds - {None}) >= 5
    assert 10 < sum(kind is not None for kind in runs[0]) < 35


async def test_fail_randomly_with_custom_kinds_and_endpoint(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    server.fail_randomly(1.0, kinds=[Fault.status(503)], endpoint="analytics")
    assert (await post(http, server)).status == 503
    assert (await get(http, server)).status == 200
    server.fail_randomly(0)
    assert (await post(http, server)).status == 200
    with pytest.raises(ValueError):
        server.fail_randomly(1.5)
    with pytest.raises(ValueError):
        server.fail_randomly(0.5, kinds=[])
    with pytest.raises(ValueError):
        server.inject(Fault.reset(), endpoint="datasets")  # type: ignore[arg-type]


async def test_injected_faults_come_before_random_ones(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    server.fail_randomly(1.0, kinds=[Fault.status(500)])
    server.inject(Fault.status(418))
    assert [(await post(http, server)).status for _ in range(2)] == [418, 500]


# --------------------------------------------------------------------------- rate limiter


async def test_rate_limit_is_enforced_per_window(http: aiohttp.ClientSession) -> None:
    options: dict[str, Any] = {"rate_limit": (3, 0.4), "integer_reset": False}
    async with FakeLLMObs.seeded(n_experiments=3, **options) as fake:
        replies = [await get(http, fake) for _ in range(4)]
        assert [r.status for r in replies] == [200, 200, 200, 429]
        headers = [ratelimit(r) for r in replies]
        assert [h["x-ratelimit-remaining"] for h in headers] == ["2", "1", "0", "0"]
        assert {h["x-ratelimit-limit"] for h in headers} == {"3"}
        assert {h["x-ratelimit-period"] for h in headers} == {"0.4"}
        resets = [float(h["x-ratelimit-reset"]) for h in headers]
        assert resets == sorted(resets, reverse=True)
        assert 0 < resets[-1] <= 0.4
        assert replies[3].body == b""

        await asyncio.sleep(resets[-1])
        after = await get(http, fake)
        assert after.status == 200
        assert after.headers["x-ratelimit-remaining"] == "2"
        assert fake.stats.rate_limited == 1


async def test_rate_limit_under_concurrency(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=3, rate_limit=(3, 5.0)) as fake:
        replies = await asyncio.gather(*(get(http, fake) for _ in range(10)))
        assert sorted(r.status for r in replies) == [200] * 3 + [429] * 7
        assert fake.stats.rate_limited == 7


async def test_a_slow_answer_counts_in_the_window_its_request_arrived_in(
    http: aiohttp.ClientSession,
) -> None:
    # A gateway counts a request when it comes in, however long the answer takes: the slow
    # first request spends the window's one unit, so the quick one after it is refused.
    async with FakeLLMObs.seeded(n_experiments=3, rate_limit=(1, 5.0)) as fake:
        fake.inject(Fault.delay(0.5))
        async with asyncio.TaskGroup() as group:
            slow = group.create_task(get(http, fake))
            await asyncio.sleep(0.1)  # it arrives; its answer is 0.5 s away
            assert len(fake.requests) == 1
            quick = await get(http, fake)
            assert not slow.done()
        assert (slow.result().status, quick.status) == (200, 429)


async def test_rate_limit_windows_are_per_endpoint(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=3, rate_limit=(1, 5.0)) as fake:
        assert (await get(http, fake)).status == 200
        assert (await get(http, fake)).status == 429
        analytics = await post(http, fake)
        assert analytics.status == 200
        assert analytics.headers["x-ratelimit-name"] == "llm_obs_experimentation_analytics"


async def test_rejected_auth_does_not_use_the_quota(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=3, rate_limit=(1, 5.0)) as fake:
        async with http.get(fake.url + EXPERIMENTS_PATH, params=PROJECT) as resp:
            assert resp.status == 403
            assert resp.headers["x-ratelimit-remaining"] == "1"
        assert (await get(http, fake)).status == 200


async def test_resets_are_whole_seconds_by_default_like_datadog(
    http: aiohttp.ClientSession,
) -> None:
    # The recorded Datadog answers (../shared/api/cassettes) carry integer resets.
    async with FakeLLMObs.seeded(n_experiments=3, rate_limit=(1, 0.3)) as fake:
        first, second = await get(http, fake), await get(http, fake)
        nominal = await post(http, fake)
    assert (first.status, second.status) == (200, 429)
    assert first.headers["x-ratelimit-reset"] == second.headers["x-ratelimit-reset"] == "1"
    assert second.headers["x-ratelimit-period"] == "0.3"
    assert nominal.headers["x-ratelimit-reset"].isdigit()


async def test_fractional_resets_only_when_asked(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=3, rate_limit=(1, 0.3), integer_reset=False) as fake:
        first, second = await get(http, fake), await get(http, fake)
    assert (first.status, second.status) == (200, 429)
    assert 0 < float(second.headers["x-ratelimit-reset"]) <= 0.3
    assert not second.headers["x-ratelimit-reset"].isdigit()


async def test_an_explicit_fault_reset_is_sent_as_given(http: aiohttp.ClientSession) -> None:
    async with FakeLLMObs.seeded(n_experiments=3) as fake:
        fake.inject(Fault.rate_limited(reset=0.25), Fault.rate_limited(reset=2))
        fractional, whole = await get(http, fake), await get(http, fake)
    assert fractional.headers["x-ratelimit-reset"] == "0.25"
    assert whole.headers["x-ratelimit-reset"] == "2"


async def test_nominal_headers_without_rate_limit(
    server: FakeLLMObs, http: aiohttp.ClientSession
) -> None:
    first, second = await get(http, server), await get(http, server)
    assert first.headers["x-ratelimit-limit"] == "1000000"
    assert first.headers["x-ratelimit-remaining"] == "999999"
    assert second.headers["x-ratelimit-remaining"] == "999998"
    assert all(r.status == 200 for r in (first, second))
    async with http.get(server.url + EXPERIMENTS_PATH, headers=keys(server)) as resp:
        assert resp.status == 400
        assert all(name in resp.headers for name in RATELIMIT_HEADERS)


# --------------------------------------------------------------------------- shutdown


async def test_close_with_a_request_in_flight(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeLLMObs.seeded(n_experiments=3)
    await fake.start()
    fake.inject(Fault.delay(30))
    pending = asyncio.create_task(get(http, fake))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await fake.close()
    assert time.monotonic() - started < 1.0
    with pytest.raises(aiohttp.ClientConnectionError):
        await pending
    assert problems(caplog) == []


async def test_close_with_idle_keepalive_connections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with aiohttp.ClientSession() as http:
        async with FakeLLMObs.seeded(n_experiments=3) as fake:
            await asyncio.gather(*(get(http, fake) for _ in range(5)))
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(http, fake)
    assert problems(caplog) == []


async def test_client_vanishing_mid_body_is_tolerated(
    server: FakeLLMObs, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST {ANALYTICS_PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000\r\n"
        f"DD-API-KEY: {server.api_key}\r\nDD-APPLICATION-KEY: {server.app_key}\r\n\r\n"
    )
    writer.write(head.encode() + b'{"data": ')
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    for _ in range(50):
        if server.requests and server.requests[-1].status is not None:
            break
        await asyncio.sleep(0.01)
    assert server.requests[-1].status == 400
    assert (await post(http, server)).status == 200
    assert problems(caplog) == []


async def test_restart_after_close(http: aiohttp.ClientSession) -> None:
    fake = FakeLLMObs.seeded(n_experiments=3)
    async with fake:
        assert (await get(http, fake)).status == 200
    async with fake:
        assert (await get(http, fake)).status == 200
    assert len(fake.requests) == 2
