"""Issue 10, points 10-12 (inputs): bad input fails at once, naming the argument, before any request.

Every test that reaches a call points the client at a raw server and checks that it received
nothing.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

import ddllmobs_async as dd
from tests.raw_servers import API_KEY, APP_KEY, RawServer, Reply, aggregate, page, serving

NOT_FINITE = [math.nan, math.inf]
POLICY_NUMBERS = ["initial_delay", "max_delay", "max_rate_limit_wait", "rate_limit_jitter"]


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    async with RawServer([Reply(200, page(["e1"]))]) as raw:
        yield raw
    assert raw.requests == [], "a request was sent for invalid input"


# --- 10. numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", NOT_FINITE, ids=["nan", "inf"])
@pytest.mark.parametrize("name", POLICY_NUMBERS)
def test_retry_policy_rejects_nan_and_infinity(name: str, value: float) -> None:
    options: dict[str, Any] = {name: value}
    with pytest.raises(ValueError, match=name):
        dd.RetryPolicy(**options)


@pytest.mark.parametrize("value", [*NOT_FINITE, -math.inf], ids=["nan", "inf", "-inf"])
def test_timeout_must_be_finite(value: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        dd.LLMObsClient(API_KEY, APP_KEY, base_url="http://127.0.0.1:1", timeout=value)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, math.nan, "1024"])
def test_max_response_bytes_must_be_a_positive_int(bad: object) -> None:
    good: dict[str, Any] = {"max_response_bytes": 1}
    dd.LLMObsClient(API_KEY, APP_KEY, base_url="http://127.0.0.1:1", **good)  # it exists
    options: dict[str, Any] = {"max_response_bytes": bad}
    with pytest.raises((ValueError, TypeError), match="max_response_bytes"):
        dd.LLMObsClient(API_KEY, APP_KEY, base_url="http://127.0.0.1:1", **options)


# --- 10. keys and base_url ------------------------------------------------------------------

CONTROL = ["key\r\nX-Injected: 1", "key\nmore", "key\rmore", "key\x00more", "key\tmore"]


@pytest.mark.parametrize("bad", CONTROL, ids=["crlf", "lf", "cr", "nul", "tab"])
@pytest.mark.parametrize("argument", ["api_key", "app_key"])
def test_keys_with_control_characters_are_rejected(argument: str, bad: str) -> None:
    keys: dict[str, Any] = {"api_key": API_KEY, "app_key": APP_KEY, argument: bad}
    with pytest.raises(ValueError, match=argument) as caught:
        dd.LLMObsClient(base_url="http://127.0.0.1:1", **keys)
    assert bad not in str(caught.value)  # never echo a key, even a broken one


def test_a_key_with_control_characters_from_the_environment_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DD_API_KEY", "abc\r\ndef")
    monkeypatch.setenv("DD_APP_KEY", APP_KEY)
    with pytest.raises(ValueError, match=r"api_key|DD_API_KEY"):
        dd.LLMObsClient(base_url="http://127.0.0.1:1")


@pytest.mark.parametrize(
    "url",
    [
        "http://user:s3cr3t-pw@127.0.0.1:1",
        "https://user:s3cr3t-pw@api.datadoghq.com",
        "https://user@api.datadoghq.com",
        "https://:s3cr3t-pw@api.datadoghq.com",
        "https:s3cr3t-pw@api.datadoghq.com",  # no "//": the user info is not in a netloc
        "https:user:s3cr3t-pw@api.datadoghq.com",
    ],
)
def test_base_url_with_user_info_is_rejected_without_echoing_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="base_url") as caught:
        dd.LLMObsClient(API_KEY, APP_KEY, base_url=url)
    assert "s3cr3t-pw" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.datadoghq.com\\@evil.example",
        "http://127.0.0.1:1\\x",
        "https://api\\.datadoghq.com",
    ],
)
def test_base_url_with_a_backslash_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        dd.LLMObsClient(API_KEY, APP_KEY, base_url=url)


# --- 10. metadata, empty id lists -----------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        {"x": math.nan},
        {"x": math.inf},
        {"x": [1, -math.inf]},
        {"x": {"y": math.nan}},
        '{"x": 1e999}',  # a JSON string whose number overflows to infinity
        '{"x": [-1e400]}',
    ],
    ids=["nan", "inf", "nested-list", "nested-dict", "string-overflow", "string-nested"],
)
async def test_metadata_with_nan_or_infinity_is_rejected(server: RawServer, metadata: Any) -> None:
    async with dd.LLMObsClient(API_KEY, APP_KEY, base_url=server.url) as client:
        stream = client.list_experiments(project_id="p1", metadata=metadata)
        async with aclosing(stream):
            with pytest.raises(ValueError, match="metadata"):
                await anext(stream)


@pytest.mark.parametrize("empty", [[], (), iter([])], ids=["list", "tuple", "iterator"])
@pytest.mark.parametrize("argument", ["ids", "parent_experiment_ids"])
async def test_an_empty_id_filter_yields_nothing_without_a_request(
    server: RawServer, argument: str, empty: Any
) -> None:
    options = {argument: empty}
    fresh: dict[str, Any] = {argument: []}
    async with dd.LLMObsClient(API_KEY, APP_KEY, base_url=server.url) as client:
        async with aclosing(client.list_experiments(project_id="p1", **options)) as stream:
            found = [e async for e in stream]
        async with aclosing(client.list_experiment_pages(project_id="p1", **fresh)) as pages:
            experiments = [e async for p in pages for e in p.experiments]
    assert found == []
    assert experiments == []


async def test_get_experiments_of_no_ids_sends_nothing(server: RawServer) -> None:
    async with dd.LLMObsClient(API_KEY, APP_KEY, base_url=server.url) as client:
        lookup = await client.get_experiments([], project_id="p1")
    assert lookup.experiments == [] and lookup.missing == []


# --- 10. caller sessions --------------------------------------------------------------------


async def test_an_already_closed_session_is_rejected() -> None:
    session = aiohttp.ClientSession()
    await session.close()
    with pytest.raises(ValueError, match="session"):
        dd.LLMObsClient(API_KEY, APP_KEY, base_url="http://127.0.0.1:1", session=session)


async def test_a_session_closed_later_raises_an_llmobs_error_saying_so(server: RawServer) -> None:
    async with aiohttp.ClientSession() as session:
        client = dd.LLMObsClient(API_KEY, APP_KEY, base_url=server.url, session=session)
    query = dd.AggregateQuery([dd.Compute("score_value")], ["experiment-evals"], "*")
    with pytest.raises(dd.LLMObsError, match="closed"):
        await client.aggregate(query)
    await client.close()


# --- 11. query injection --------------------------------------------------------------------

NOT_PLAIN_IDS = [
    "x OR @experiment_id:*",
    "abc*",
    "a:b",
    "a b",
    'a"b',
    "a\\b",
    "(a)",
    "a\nb",
    "",
    "é1",
]


@pytest.mark.parametrize("bad", NOT_PLAIN_IDS)
async def test_compare_rejects_an_id_that_is_not_plain(server: RawServer, bad: str) -> None:
    async with dd.LLMObsClient(API_KEY, APP_KEY, base_url=server.url) as client:
        with pytest.raises(ValueError, match="experiment_ids"):
            await client.compare_experiments(["run1", bad], baseline_id="base")
        with pytest.raises(ValueError, match="baseline_id"):
            await client.compare_experiments(["run1"], baseline_id=bad)
        with pytest.raises(ValueError, match=r"^experiment_ids"):  # the implicit baseline
            await client.compare_experiments([bad, "run1"])


async def test_compare_sends_plain_ids_as_they_are() -> None:
    ids = ["3fd6b5e0-8910-4b1c-a7d0-5b84de329012", "run_2", "RUN-3"]
    async with serving([Reply(200, aggregate())]) as (server, client):
        comparison = await client.compare_experiments(ids[1:], baseline_id=ids[0])
    sent = sorted(
        r.json()["data"]["attributes"]["aggregate"]["search"]["query"] for r in server.requests
    )
    assert sent == sorted(f"@experiment_id:{i}" for i in ids)
    assert comparison.baseline_id == ids[0]


# --- 12. time ranges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(1969, 12, 31, tzinfo=UTC), datetime(1970, 1, 2, tzinfo=UTC)),
        (
            datetime(1900, 1, 1, tzinfo=timezone(timedelta(hours=2))),
            datetime(2020, 1, 1, tzinfo=UTC),
        ),
        (datetime(1960, 1, 1, tzinfo=UTC), datetime(1965, 1, 1, tzinfo=UTC)),
        (-1, 1000),
    ],
    ids=["1969", "1900", "both-before-1970", "negative-int"],
)
def test_time_points_before_1970_are_rejected(start: datetime | int, end: datetime | int) -> None:
    with pytest.raises(ValueError, match="start"):
        dd.TimeRange(start, end)


def test_the_epoch_itself_is_accepted() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert dd.TimeRange(epoch, epoch + timedelta(hours=1)).start == epoch


# --- arguments of the wrong kind name themselves ------------------------------------------------


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"retry_statuses": {"x"}}, "retry_statuses"),
        ({"retry_statuses": 429}, "retry_statuses"),
        ({"retry_statuses": "429"}, "retry_statuses"),
        ({"retry_statuses": {True}}, "retry_statuses"),
        ({"retry_statuses": {1000}}, "retry_statuses"),
        ({"on_retry": 5}, "on_retry"),
    ],
)
def test_retry_policy_names_a_bad_argument(options: dict[str, Any], argument: str) -> None:
    with pytest.raises((TypeError, ValueError), match=argument):
        dd.RetryPolicy(**options)
    assert dd.RetryPolicy(retry_statuses=[429, 503]).retry_statuses == {429, 503}


def test_a_session_that_is_not_an_aiohttp_session_is_refused() -> None:
    with pytest.raises(TypeError, match="session"):
        dd.LLMObsClient(API_KEY, APP_KEY, base_url="http://127.0.0.1:1", session="x")  # type: ignore[arg-type]


@pytest.mark.parametrize("ids", [[["e1"]], [{"e": 1}], ["e1", 5]])
async def test_get_experiments_names_ids_that_are_not_strings(server: RawServer, ids: Any) -> None:
    async with dd.LLMObsClient(API_KEY, APP_KEY, base_url=server.url) as client:
        with pytest.raises(ValueError, match="ids"):
            await client.get_experiments(ids, project_id="p1")


@pytest.mark.parametrize(
    ("duration", "error"),
    [(-1, TypeError), ("1h", TypeError), (timedelta.max, ValueError), (timedelta(-1), ValueError)],
)
def test_time_range_last_names_a_bad_duration(duration: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="duration"):
        dd.TimeRange.last(duration)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:99999", "http://127.0.0.1:abc", "http://[::1]:-1"]
)
def test_base_url_with_an_invalid_port_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ValueError, match="base_url has an invalid port"):
        dd.LLMObsClient(API_KEY, APP_KEY, base_url=url)


@pytest.mark.parametrize("variable", ["DD_LLMOBS_BASE_URL", "DDLLMOBS_BASE_URL"])
def test_a_bad_base_url_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("DD_LLMOBS_BASE_URL", raising=False)
    monkeypatch.setenv(variable, "ftp://127.0.0.1:1")
    with pytest.raises(ValueError, match=f"^{variable} must be an http"):
        dd.LLMObsClient(API_KEY, APP_KEY)


@pytest.mark.parametrize(
    ("variable", "argument"), [("DD_API_KEY", "api_key"), ("DD_APP_KEY", "app_key")]
)
def test_a_bad_key_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, argument: str
) -> None:
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    monkeypatch.setenv("DD_APP_KEY", APP_KEY)
    monkeypatch.setenv(variable, "abc\r\ndef")
    with pytest.raises(ValueError, match=f"^{variable} contains control characters"):
        dd.LLMObsClient(base_url="http://127.0.0.1:1")
    keys: dict[str, Any] = {"api_key": API_KEY, "app_key": APP_KEY, argument: "x\ny"}
    with pytest.raises(ValueError, match=f"^{argument} contains control characters"):
        dd.LLMObsClient(**keys, base_url="http://127.0.0.1:1")
