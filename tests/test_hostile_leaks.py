"""Issue 10, points 6 and 7: nothing runs after a call failed or the client closed; no key leaks.

Point 6 counts requests on a raw server over a short window after the helper raised and after
``client.close()``, and records "Unclosed client session" and friends. Point 7 walks everything
reachable from each error the client can raise (causes, contexts, args, attributes, reprs).
"""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import aclosing

import aiohttp
import multidict
import pytest
import yarl

import ddllmobs_async as dd
from tests.raw_servers import (
    API_KEY,
    APP_KEY,
    Answer,
    Raw,
    RawServer,
    Reply,
    Request,
    Reset,
    Silence,
    Truncated,
    aggregate,
    experiment,
    page,
    rate_limit,
    serving,
    watch_hygiene,
)

QUIET_WINDOW = 0.4


def search_query(request: Request) -> str:
    body = request.json()
    return str(body["data"]["attributes"]["aggregate"]["search"]["query"])


# --- 6. leaks after failure and after close -------------------------------------------------


class ChunkServer:
    """Chunks holding ``bad`` fail at once; the others page slowly and never end."""

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def __call__(self, request: Request) -> Reply:
        ids = request.params("filter[id]")
        if self.bad in ids:
            return Reply(400, b'{"errors": [{"title": "Bad Request", "detail": "bad id"}]}')
        cursor = request.param("page[cursor]") or "0"
        return Reply(200, page([ids[0]], after=str(int(cursor) + 1)), delay=0.05)


async def test_get_experiments_stops_every_chunk_when_one_fails() -> None:
    ids = [f"id{i}" for i in range(350)]  # four chunks; the third fails
    retry = dd.RetryPolicy(max_retries=0)
    with watch_hygiene() as hygiene:
        async with serving(ChunkServer(bad="id250"), retry_policy=retry) as (server, client):
            with pytest.raises(dd.BadRequestError):  # the error itself, not an ExceptionGroup
                async with asyncio.timeout(3):
                    await client.get_experiments(ids, project_id="p1")
            after_raise = await server.requests_during(QUIET_WINDOW)
            await client.close()
            after_close = await server.requests_during(QUIET_WINDOW)
    assert after_raise == 0
    assert after_close == 0
    assert not hygiene.problems()


class AggregateServer:
    """The query naming ``bad`` gets a 400 at once; every other one a 503 (retried)."""

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def __call__(self, request: Request) -> Reply:
        if search_query(request) == f"@experiment_id:{self.bad}":
            return Reply(400, b'{"errors": ["bad query"]}', delay=0.02)
        return Reply(503, b"", delay=0.01)


async def test_compare_experiments_stops_every_aggregate_when_one_fails() -> None:
    retry = dd.RetryPolicy(max_retries=30, initial_delay=0.02, max_delay=0.05)
    with watch_hygiene() as hygiene:
        async with serving(AggregateServer(bad="base"), retry_policy=retry) as (server, client):
            with pytest.raises(dd.BadRequestError):
                async with asyncio.timeout(3):
                    await client.compare_experiments(["run1", "run2", "run3"], baseline_id="base")
            after_raise = await server.requests_during(QUIET_WINDOW)
            await client.close()
            after_close = await server.requests_during(QUIET_WINDOW)
    assert after_raise == 0
    assert after_close == 0
    assert not hygiene.problems()


async def test_aggregate_many_stops_the_others_when_one_fails() -> None:
    retry = dd.RetryPolicy(max_retries=30, initial_delay=0.02, max_delay=0.05)
    queries = [
        dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], f"@experiment_id:{i}")
        for i in ("base", "run1", "run2")
    ]
    with watch_hygiene() as hygiene:
        async with serving(AggregateServer(bad="base"), retry_policy=retry) as (server, client):
            with pytest.raises(dd.BadRequestError):
                async with asyncio.timeout(3):
                    await client.aggregate_many(queries)
            after_raise = await server.requests_during(QUIET_WINDOW)
    assert after_raise == 0
    assert not hygiene.problems()


def slow_endless_pages(request: Request) -> Reply:
    cursor = request.param("page[cursor]") or "0"
    return Reply(200, page([f"e{cursor}"], after=str(int(cursor) + 1)), delay=0.1)


async def test_close_stops_a_prefetching_stream_that_was_never_closed() -> None:
    retry = dd.RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.02)
    with watch_hygiene() as hygiene:
        async with serving(slow_endless_pages, retry_policy=retry) as (server, client):
            stream = client.list_experiments(project_id="p1", prefetch=2)
            try:
                async with asyncio.timeout(2):
                    first = await anext(stream)
                await asyncio.sleep(0.05)  # the read-ahead has a request in flight
                await client.close()
                after_close = await server.requests_during(QUIET_WINDOW)
            finally:
                await stream.aclose()
    assert first.id == "e0"
    assert after_close == 0
    assert not hygiene.problems()


async def test_a_user_call_after_close_still_reopens_the_client() -> None:
    async with serving([Reply(200, aggregate())]) as (server, client):
        query = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
        await client.aggregate(query)
        await client.close()
        assert (await client.aggregate(query)).hit_count == 1
    assert len(server.requests) == 2


# --- 7. keys in the exception chain ---------------------------------------------------------

_LEAF_TYPES = (int, float, complex, bool, type(None), range, type(Ellipsis))
_OPAQUE_TYPES = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.FrameType,
    types.TracebackType,
    asyncio.AbstractEventLoop,
)


def reachable_texts(root: object) -> Iterator[tuple[str, str]]:
    """(where, text) for every string, bytes and repr reachable from ``root``.

    Follows exception causes, contexts and args, container items, mapping keys and values,
    instance ``__dict__`` and ``__slots__`` attributes, recursively, each object once.
    Tracebacks, frames, functions, classes, modules and event loops are not followed.
    """
    visited: set[int] = set()
    keep_alive: list[object] = []  # ids stay unique while we walk
    stack: list[tuple[object, str]] = [(root, "error")]
    while stack:
        obj, where = stack.pop()
        if id(obj) in visited or isinstance(obj, (_LEAF_TYPES, _OPAQUE_TYPES)):
            continue
        visited.add(id(obj))
        keep_alive.append(obj)
        if isinstance(obj, str):
            yield where, obj
            continue
        if isinstance(obj, bytes | bytearray | memoryview):
            yield where, bytes(obj).decode("latin-1")
            continue
        try:
            yield f"repr({where})", repr(obj)
            yield f"str({where})", str(obj)
        except Exception as error:  # a repr that fails cannot leak, but say which
            yield f"repr({where}) failed", repr(error)
        stack.extend(_children(obj, where))


def _children(obj: object, where: str) -> Iterator[tuple[object, str]]:
    if isinstance(obj, BaseException):
        yield obj.__cause__, f"{where}.__cause__"
        yield obj.__context__, f"{where}.__context__"
        yield obj.args, f"{where}.args"
        if isinstance(obj, BaseExceptionGroup):
            yield obj.exceptions, f"{where}.exceptions"
    if isinstance(obj, Mapping | multidict.MultiMapping):
        for key, value in list(obj.items()):
            yield key, f"{where} key"
            yield value, f"{where}[{key!r}]"
    elif isinstance(obj, list | tuple | set | frozenset):
        for index, item in enumerate(obj):
            yield item, f"{where}[{index}]"
    elif isinstance(obj, yarl.URL):
        yield str(obj), f"{where} (url)"
    for name, value in _attributes(obj):
        yield value, f"{where}.{name}"


def _attributes(obj: object) -> Iterator[tuple[str, object]]:
    yield from getattr(obj, "__dict__", {}).items()
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            try:
                yield name, object.__getattribute__(obj, name)
            except (AttributeError, TypeError):
                continue
    for name in ("request_info", "history", "headers", "os_error", "host", "ssl"):
        try:
            yield name, getattr(obj, name)
        except Exception:
            continue


def assert_no_key_reachable(error: BaseException) -> None:
    for where, text in reachable_texts(error):
        for key in (API_KEY, APP_KEY):
            assert key not in text, f"a key is reachable at {where}: {text[:300]}"


def test_the_walker_finds_a_key_in_aiohttp_request_info() -> None:
    # The walk is not hollow: a key in a ClientResponseError's request_info is found.
    info = aiohttp.RequestInfo(
        yarl.URL("http://127.0.0.1/x"),
        "GET",
        multidict.CIMultiDictProxy(multidict.CIMultiDict({"DD-API-KEY": API_KEY})),
        yarl.URL("http://127.0.0.1/x"),
    )
    cause = aiohttp.ClientResponseError(info, (), status=400, message="bad")
    wrapped = dd.APIConnectionError("failed")
    wrapped.__cause__ = cause
    with pytest.raises(AssertionError, match="a key is reachable"):
        assert_no_key_reachable(wrapped)


QUERY = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
Call = Callable[[dd.LLMObsClient], Awaitable[object]]


async def call_aggregate(client: dd.LLMObsClient) -> object:
    return await client.aggregate(QUERY)


async def call_list(client: dd.LLMObsClient) -> object:
    async with aclosing(client.list_experiments(project_id="p1")) as stream:
        return [e async for e in stream]


async def call_get(client: dd.LLMObsClient) -> object:
    return await client.get_experiments(["e1", "e2"], project_id="p1")


async def call_compare(client: dd.LLMObsClient) -> object:
    return await client.compare_experiments(["run1", "run2"], baseline_id="base")


async def call_aggregate_after_a_far_reset(client: dd.LLMObsClient) -> object:
    await client.aggregate(QUERY)
    return await client.aggregate(QUERY)  # the gate refuses: the window resets in 9e8 s


_ERROR_BODY = json.dumps({"errors": [{"title": "nope", "detail": "no"}]}).encode()
_FAR_RESET = Reply(200, aggregate(), rate_limit(limit=1, remaining=0, reset=9e8))

SCENARIOS: dict[str, tuple[list[Answer], Call, type[dd.LLMObsError]]] = {
    "malformed status line": ([Raw(b"HTTP/1.1 abc OK\r\n\r\n")], call_aggregate, dd.APIConnectionError),
    "garbage instead of HTTP": ([Raw(b"\x00\x01garbage\r\n\r\n")], call_aggregate, dd.APIConnectionError),
    "bad header line": ([Raw(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n")], call_aggregate, dd.APIConnectionError),
    "connection reset": ([Reset()], call_aggregate, dd.APIConnectionError),
    "timeout": ([Silence()], call_aggregate, dd.APITimeoutError),
    "400": ([Reply(400, _ERROR_BODY)], call_aggregate, dd.BadRequestError),
    "401": ([Reply(401, _ERROR_BODY)], call_aggregate, dd.AuthenticationError),
    "403": ([Reply(403, _ERROR_BODY)], call_aggregate, dd.PermissionDeniedError),
    "404": ([Reply(404, _ERROR_BODY)], call_list, dd.NotFoundError),
    "418": ([Reply(418, b"teapot")], call_aggregate, dd.APIError),
    "redirect": ([Reply(302, b"", {"Location": "https://evil.example/x"})], call_aggregate, dd.APIError),
    "429": ([Reply(429, b"", rate_limit(reset=0.01))], call_aggregate, dd.RateLimitError),
    "gate refuses": ([_FAR_RESET], call_aggregate_after_a_far_reset, dd.RateLimitError),
    "500": ([Reply(500, b"oops")], call_aggregate, dd.ServerError),
    "not JSON": ([Reply(200, b"<html>")], call_aggregate, dd.ResponseValidationError),
    "truncated body": ([Truncated()], call_list, dd.ResponseValidationError),
    "schema": ([Reply(200, b'{"data": [{"id": 1}]}')], call_list, dd.ResponseValidationError),
    "cursor loop": ([Reply(200, page(["e1"], after="A"))], call_list, dd.ResponseValidationError),
    "get_experiments": ([Reply(400, _ERROR_BODY)], call_get, dd.BadRequestError),
    "compare_experiments": ([Reply(500, b"")], call_compare, dd.ServerError),
}  # fmt: skip


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_no_key_is_reachable_from_any_error(scenario: str) -> None:
    answers, call, expected = SCENARIOS[scenario]
    retry = dd.RetryPolicy(max_retries=0, max_rate_limit_wait=1)
    async with serving(answers, retry_policy=retry, timeout=0.2) as (server, client):
        with pytest.raises(dd.LLMObsError) as caught:
            async with asyncio.timeout(3):
                await call(client)
    assert isinstance(caught.value, expected), repr(caught.value)
    assert server.requests[0].headers["dd-api-key"] == API_KEY  # the keys were on the wire
    assert_no_key_reachable(caught.value)


@pytest.mark.parametrize("status", [400, 403, 429, 500, 502])
async def test_a_server_echoing_the_keys_does_not_put_them_into_the_error(status: int) -> None:
    def echo(request: Request) -> Reply:
        sent = {name: request.headers[name] for name in ("dd-api-key", "dd-application-key")}
        body = json.dumps({"errors": [{"title": "echo", "detail": json.dumps(sent)}]}).encode()
        return Reply(status, body, {"X-Echo": f"key={sent['dd-api-key']}", "Retry-After": "0"})

    retry = dd.RetryPolicy(max_retries=1, initial_delay=0.01, max_delay=0.01)
    async with serving(echo, retry_policy=retry, timeout=1) as (server, client):
        with pytest.raises(dd.APIError) as caught:
            async with asyncio.timeout(3):
                await client.aggregate(QUERY)
    assert caught.value.status == status
    assert server.requests[0].headers["dd-api-key"] == API_KEY
    assert "<redacted>" in caught.value.body.decode()  # the echo is kept, the keys are not
    assert caught.value.headers["X-Echo"] == "key=<redacted>"
    assert_no_key_reachable(caught.value)


async def test_no_key_is_reachable_from_a_refused_connection() -> None:
    async with RawServer() as server:
        url = server.url  # closed on the way out: nothing listens there any more
    client = dd.LLMObsClient(
        API_KEY, APP_KEY, base_url=url, retry_policy=dd.RetryPolicy(max_retries=0)
    )
    async with client:
        with pytest.raises(dd.APIConnectionError) as caught:
            await client.aggregate(QUERY)
    assert_no_key_reachable(caught.value)


def test_no_key_in_the_client_repr_or_its_policy() -> None:
    client = dd.LLMObsClient(API_KEY, APP_KEY, base_url="http://127.0.0.1:1")
    for where, text in reachable_texts([repr(client), str(client), repr(client.retry_policy)]):
        assert API_KEY not in text and APP_KEY not in text, where


# --- keys echoed into a 2xx answer --------------------------------------------------------


def echoed_keys(request: Request) -> str:
    return f"{request.headers['dd-api-key']} {request.headers['dd-application-key']}"


def html_echo(request: Request) -> Reply:  # a proxy's 200 page quoting the request
    return Reply(200, f"<html>you sent {echoed_keys(request)}</html>".encode())


def echo_across_the_quoted_start(request: Request) -> Reply:  # the key at the quote's end
    return Reply(200, b"x" * 110 + request.headers["dd-api-key"].encode())


def experiments_echo(request: Request) -> Reply:  # members of the wrong type hold the keys
    item = experiment("e1", name=7, run_count=echoed_keys(request))
    return Reply(200, json.dumps({"data": [item], "meta": {}}).encode())


def aggregate_echo(request: Request) -> Reply:
    bucket = {"by": {echoed_keys(request): 1}, "computes": {"c0": echoed_keys(request)}}
    return Reply(200, aggregate(hit_count=echoed_keys(request), buckets=[bucket]))


def events_echo(request: Request) -> Reply:
    span = {"span_id": "s1", "status": "ok", "start_ns": echoed_keys(request)}
    body = {"data": {"id": "x", "type": "events", "attributes": {"spans": [span]}}}
    return Reply(200, json.dumps(body).encode())


async def call_events(client: dd.LLMObsClient) -> object:
    async with aclosing(client.list_experiment_events("exp-1")) as stream:
        return [span async for span in stream]


ECHOES_2XX: dict[str, tuple[Callable[[Request], Reply], Call]] = {
    "not JSON, aggregate": (html_echo, call_aggregate),
    "not JSON, list": (html_echo, call_list),
    "not JSON, key at the quote's end": (echo_across_the_quoted_start, call_aggregate),
    "wrong types, list": (experiments_echo, call_list),
    "wrong types, aggregate": (aggregate_echo, call_aggregate),
    "wrong types, events": (events_echo, call_events),
}


@pytest.mark.parametrize("scenario", list(ECHOES_2XX))
async def test_keys_echoed_into_a_2xx_answer_are_not_reachable_from_its_error(
    scenario: str,
) -> None:
    answer, call = ECHOES_2XX[scenario]
    async with serving(answer, retry_policy=dd.RetryPolicy(max_retries=0)) as (_server, client):
        with pytest.raises(dd.ResponseValidationError) as caught:
            async with asyncio.timeout(3):
                await call(client)
    assert_no_key_reachable(caught.value)
    assert API_KEY[:10] not in str(caught.value)  # not even the start of one, cut short
    assert caught.value.__cause__ is None and caught.value.__context__ is None
