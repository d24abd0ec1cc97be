"""Issue 10, points 8, 9 and 12 (answers): bombs, deep JSON, bools for numbers, HTTP dates.

Each against a raw server that sends exactly the hostile body or header.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import aclosing
from pathlib import Path

import pytest

import ddllmobs_async as dd
from tests.raw_servers import (
    RawServer,
    Reply,
    Truncated,
    aggregate,
    deep_json,
    experiment,
    gzip_bomb,
    page,
    serving,
)

ROOT = Path(__file__).resolve().parents[1]
QUERY = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
RETRY_TWICE = dd.RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002)
MiB = 2**20


# --- 8. decompression bomb ------------------------------------------------------------------


async def first_page(client: dd.LLMObsClient) -> None:
    async with aclosing(client.list_experiments(project_id="p1")) as stream:
        await anext(stream)


async def one_aggregate(client: dd.LLMObsClient) -> None:
    await client.aggregate(QUERY)


async def closed_by_client(server: RawServer) -> None:
    """Wait until the server has no open connection (the client closed it, not kept it)."""
    while server.open_connections:  # noqa: ASYNC110 (polls the server's own counter)
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("call", [first_page, one_aggregate], ids=["list", "aggregate"])
async def test_a_gzip_bomb_is_refused_not_retried_and_its_connection_closed(
    call: Callable[[dd.LLMObsClient], Awaitable[None]],
) -> None:
    bomb = Reply(200, gzip_bomb(64 * MiB), {"Content-Encoding": "gzip"})
    options = {"retry_policy": RETRY_TWICE, "max_response_bytes": MiB}
    async with serving([bomb], **options) as (server, client):
        with pytest.raises(dd.ResponseValidationError):
            await asyncio.wait_for(call(client), 5)
        assert len(server.requests) == 1  # not retried
        await asyncio.wait_for(closed_by_client(server), 2)


async def test_an_oversized_plain_body_is_refused() -> None:
    body = page(["e1"]) + b" " * (2 * MiB)
    options = {"retry_policy": RETRY_TWICE, "max_response_bytes": MiB}
    async with serving([Reply(200, body)], **options) as (server, client):
        with pytest.raises(dd.ResponseValidationError):
            async with aclosing(client.list_experiments(project_id="p1")) as stream:
                await anext(stream)
    assert len(server.requests) == 1


async def test_a_body_of_exactly_max_response_bytes_is_accepted() -> None:
    body = aggregate()
    async with serving([Reply(200, body)], max_response_bytes=len(body)) as (_server, client):
        assert (await client.aggregate(QUERY)).hit_count == 1
    async with serving([Reply(200, body)], max_response_bytes=len(body) - 1) as (_server, client):
        with pytest.raises(dd.ResponseValidationError):
            await client.aggregate(QUERY)


async def test_the_bound_is_on_the_decoded_size_of_an_error_body_too() -> None:
    # Refused, not retried, whatever the status: the same answer would be too large again.
    bomb = Reply(503, gzip_bomb(16 * MiB), {"Content-Encoding": "gzip"})
    options = {"retry_policy": RETRY_TWICE, "max_response_bytes": MiB}
    async with serving([bomb], **options) as (server, client):
        with pytest.raises(dd.ResponseTooLargeError) as caught:
            async with asyncio.timeout(5):
                await client.aggregate(QUERY)
        assert len(server.requests) == 1
    assert caught.value.status == 503


async def test_a_body_that_is_not_the_gzip_it_claims_is_retried_and_named() -> None:
    broken = Reply(200, b"not gzip at all", {"Content-Encoding": "gzip"})
    async with serving([broken], retry_policy=RETRY_TWICE) as (server, client):
        with pytest.raises(dd.ResponseValidationError) as caught:
            await client.aggregate(QUERY)
        assert len(server.requests) == 3  # retried, like a body cut short
    message = str(caught.value)
    assert "could not be decoded" in message and "content-encoding: gzip" in message, message


@pytest.mark.parametrize(
    ("status", "error", "requests"),
    [
        (400, dd.BadRequestError, 1),
        (404, dd.NotFoundError, 1),
        (429, dd.RateLimitError, 3),
        (503, dd.ServerError, 3),
    ],
)
async def test_an_error_answer_whose_body_is_cut_short_keeps_its_status(
    status: int, error: type[dd.APIError], requests: int
) -> None:
    # The status says what happened; an unreadable error body adds nothing to it. A 4xx
    # must not be retried because its body broke, and every status keeps its typed error.
    cut = Truncated(b'{"errors": [{"title": "Bad', status=status)
    retry = dd.RetryPolicy(
        max_retries=2, initial_delay=0.001, max_delay=0.002, max_rate_limit_wait=0.2
    )
    async with serving([cut], retry_policy=retry) as (server, client):
        with pytest.raises(dd.APIError) as caught:
            async with asyncio.timeout(5):
                await client.aggregate(QUERY)
        assert len(server.requests) == requests
    assert type(caught.value) is error
    assert caught.value.status == status


# --- 9. deep JSON ---------------------------------------------------------------------------

DEPTH = 100_000
STATUS_ERRORS = {200: "ResponseValidationError", 400: "BadRequestError", 502: "ServerError"}
# A 5xx with any body is retried (max_retries=2); a 4xx never is; an unreadable 2xx body may be.
EXPECTED_REQUESTS = {200: (1, 3), 400: (1,), 502: (3,)}


async def test_deep_json_is_a_typed_error_with_the_installed_backend() -> None:
    for status, error_name in STATUS_ERRORS.items():
        async with serving([Reply(status, deep_json(DEPTH))], retry_policy=RETRY_TWICE) as (
            server,
            client,
        ):
            with pytest.raises(dd.LLMObsError) as caught:
                await client.aggregate(QUERY)
        assert type(caught.value).__name__ == error_name
        assert len(server.requests) in EXPECTED_REQUESTS[status]


WITHOUT_ORJSON = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.modules["orjson"] = None  # the stdlib json backend, as without the speedups extra
    import ddllmobs_async as dd
    from tests.raw_servers import Reply, deep_json, serving

    QUERY = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
    RETRY = dd.RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002)

    async def outcome(status, call):
        async with serving([Reply(status, deep_json({depth}))], retry_policy=RETRY) as (server, client):
            try:
                await call(client)
            except BaseException as error:
                return [type(error).__name__, len(server.requests)]
            return ["ok", len(server.requests)]

    async def first_page(client):
        async for _ in client.list_experiments(project_id="p1"):
            return

    async def main():
        results = {{}}
        for status in (200, 400, 502):
            results[f"aggregate {{status}}"] = await outcome(status, lambda c: c.aggregate(QUERY))
            results[f"list {{status}}"] = await outcome(status, first_page)
        print(json.dumps(results))

    asyncio.run(main())
    """
)


def test_deep_json_is_a_typed_error_without_orjson() -> None:
    script = WITHOUT_ORJSON.format(depth=DEPTH)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for status, error_name in STATUS_ERRORS.items():
        for call in ("aggregate", "list"):
            name, requests = results[f"{call} {status}"]
            assert name == error_name, results
            assert requests in EXPECTED_REQUESTS[status], results


# --- 12. bools are not numbers --------------------------------------------------------------


@pytest.mark.parametrize("flag", [True, False])
async def test_a_bool_hit_count_is_rejected(flag: bool) -> None:
    async with serving([Reply(200, aggregate(hit_count=flag))], retry_policy=RETRY_TWICE) as (
        server,
        client,
    ):
        with pytest.raises(dd.ResponseValidationError, match="hit_count"):
            await client.aggregate(QUERY)
    assert len(server.requests) == 1  # a schema error is not retried


@pytest.mark.parametrize("field", ["run_count", "dataset_version"])
async def test_a_bool_where_an_experiment_has_a_number_is_rejected(field: str) -> None:
    body = json.dumps({"data": [experiment("e1", **{field: True})], "meta": {}}).encode()
    async with serving([Reply(200, body)], retry_policy=RETRY_TWICE) as (_server, client):
        with pytest.raises(dd.ResponseValidationError, match=field):
            async with aclosing(client.list_experiments(project_id="p1")) as stream:
                await anext(stream)


# --- 12. Retry-After HTTP dates are GMT -----------------------------------------------------


@pytest.fixture
def far_from_gmt(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time is UTC+9, so a date read as local time is 9 hours off."""
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def http_date(when: float, form: str) -> str:
    t = time.gmtime(when)
    if form == "asctime":
        return time.strftime("%a %b ", t) + f"{t.tm_mday:>2}" + time.strftime(" %H:%M:%S %Y", t)
    zone = {"gmt": "GMT", "minus-zero": "-0000", "plus-zero": "+0000"}[form]
    return time.strftime("%a, %d %b %Y %H:%M:%S ", t) + zone


@pytest.mark.usefixtures("far_from_gmt")
@pytest.mark.parametrize("form", ["gmt", "plus-zero", "minus-zero", "asctime"])
async def test_a_retry_after_http_date_is_read_as_gmt(form: str) -> None:
    target = time.time() + 1.6  # whole seconds on the wire: the wait is 0.6..1.6 s
    held = Reply(429, b"", {"Retry-After": http_date(target, form)})
    retry = dd.RetryPolicy(max_retries=1, max_rate_limit_wait=30, rate_limit_jitter=0.01)
    async with serving([held, Reply(200, aggregate())], retry_policy=retry) as (server, client):
        async with asyncio.timeout(5):
            await client.aggregate(QUERY)
    first, second = server.requests
    assert 0.5 <= second.at - first.at <= 2.0
