"""Every error class, built from what the (fake) server really answers."""

from __future__ import annotations

import asyncio
import socket

import pytest

import ddllmobs_async as dd
from ddllmobs_async.testing import FakeLLMObs, Fault
from tests.conftest import ClientFactory

NO_RETRY = dd.RetryPolicy(max_retries=0)


async def first_page(client: dd.LLMObsClient, project_id: str = "p") -> list[dd.Experiment]:
    return [e async for e in client.list_experiments(project_id=project_id, max_items=5)]


async def test_wrong_api_key_is_permission_denied(fake: FakeLLMObs) -> None:
    async with dd.LLMObsClient("wrong", fake.app_key, base_url=fake.url) as client:
        with pytest.raises(dd.PermissionDeniedError) as info:
            await first_page(client)
    assert info.value.status == 403 and info.value.errors
    assert "wrong" not in str(info.value)


async def test_wrong_app_key_is_authentication_error(fake: FakeLLMObs) -> None:
    async with dd.LLMObsClient(fake.api_key, "nope", base_url=fake.url) as client:
        with pytest.raises(dd.AuthenticationError) as info:
            await first_page(client)
    assert info.value.status == 401
    assert len(fake.requests) == 1


async def test_unknown_path_is_not_found(fake: FakeLLMObs, make_client: ClientFactory) -> None:
    client = dd.LLMObsClient(fake.api_key, fake.app_key, base_url=fake.url + "/wrong-prefix")
    try:
        with pytest.raises(dd.NotFoundError) as info:
            await first_page(client)
        assert info.value.status == 404
    finally:
        await client.close()


async def test_server_side_bad_request_on_the_listing(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake)
    with pytest.raises(dd.BadRequestError) as info:
        [
            e
            async for e in client.list_experiments(
                project_id=fake.project_id, cursor="not-a-cursor"
            )
        ]
    source = info.value.errors[0].source
    assert source is not None and source.parameter == "page[cursor]"
    assert info.value.cursor == "not-a-cursor"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_after_retries_is_server_error(
    fake: FakeLLMObs, make_client: ClientFactory, status: int
) -> None:
    fake.inject(*[Fault.status(status)] * 4)
    with pytest.raises(dd.ServerError) as info:
        await first_page(make_client(fake), fake.project_id)
    assert info.value.status == status
    assert len(fake.requests) == 4  # first attempt + max_retries (3)


async def test_429_after_retries_carries_rate_limit_info(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    fake.inject(*[Fault.rate_limited(reset=0.01, limit=10)] * 2)
    with pytest.raises(dd.RateLimitError) as info:
        await first_page(
            make_client(fake, retry_policy=dd.RetryPolicy(max_retries=1, rate_limit_jitter=0)),
            fake.project_id,
        )
    error = info.value
    assert error.status == 429 and error.errors == []  # Datadog's 429 body is empty
    assert error.retry_after == pytest.approx(0.01, abs=0.005)
    assert error.rate_limit is not None and error.limit == 10 and error.remaining == 0
    assert error.name and error.period is not None and error.reset is not None
    assert error.headers["x-ratelimit-limit"] == error.headers["X-RateLimit-Limit"] == "10"


async def test_429_json_body_strings_become_details(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    fake.inject(Fault.rate_limited(reset=0.01, json_body=True))
    with pytest.raises(dd.RateLimitError) as info:
        await first_page(make_client(fake, retry_policy=NO_RETRY), fake.project_id)
    assert [d.detail for d in info.value.errors] == ["Too many requests"]


async def test_connection_refused_is_connection_error(make_client: ClientFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = dd.LLMObsClient(
        "a",
        "b",
        base_url=f"http://127.0.0.1:{port}",
        retry_policy=dd.RetryPolicy(max_retries=1, initial_delay=0.001),
    )
    try:
        with pytest.raises(dd.APIConnectionError) as info:
            await first_page(client)
        assert not isinstance(info.value, dd.APITimeoutError)
        assert info.value.cursor is None
    finally:
        await client.close()


async def test_dropped_connection_is_connection_error(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    fake.inject(Fault.reset())
    with pytest.raises(dd.APIConnectionError):
        await first_page(make_client(fake, retry_policy=NO_RETRY), fake.project_id)


async def test_slow_answer_is_timeout_error(fake: FakeLLMObs, make_client: ClientFactory) -> None:
    fake.inject(Fault.delay(1.0))
    with pytest.raises(dd.APITimeoutError, match="timed out"):
        await first_page(make_client(fake, timeout=0.1, retry_policy=NO_RETRY), fake.project_id)


@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.non_json(), 200), (Fault.truncated(), 200)],
)
async def test_unreadable_200_is_response_validation_error(
    fake: FakeLLMObs, make_client: ClientFactory, fault: Fault, status: int
) -> None:
    fake.inject(fault)
    with pytest.raises(dd.ResponseValidationError) as info:
        await first_page(make_client(fake, retry_policy=NO_RETRY), fake.project_id)
    assert info.value.status == status


async def test_html_gateway_page_is_server_error_with_readable_message(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    fake.inject(Fault.html(502))
    with pytest.raises(dd.ServerError) as info:
        await first_page(make_client(fake, retry_policy=NO_RETRY), fake.project_id)
    assert info.value.status == 502 and info.value.errors == []
    assert "HTTP 502" in str(info.value)


async def test_redirects_are_not_followed(fake: FakeLLMObs, make_client: ClientFactory) -> None:
    async with FakeLLMObs() as elsewhere:
        fake.inject(Fault.redirect(elsewhere.url + "/api/v2/llm-obs/v1/experiments"))
        with pytest.raises(dd.APIError, match="redirect not followed") as info:
            await first_page(make_client(fake), fake.project_id)
        assert info.value.status == 302
        assert elsewhere.requests == []  # the keys never reached the other host


async def test_recorded_bad_request_without_status_or_source(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    # test_create_an_agent_observability_prompt_returns_bad_request_response.yaml
    fake.inject(
        Fault.status(400, errors=[{"title": "Generic Error", "detail": "invalid prompt template"}])
    )
    with pytest.raises(dd.BadRequestError) as info:
        await first_page(make_client(fake), fake.project_id)
    (detail,) = info.value.errors
    assert (detail.title, detail.detail, detail.status, detail.source) == (
        "Generic Error",
        "invalid prompt template",
        None,
        None,
    )
    assert "Generic Error: invalid prompt template" in str(info.value)


def test_error_hierarchy() -> None:
    for cls in (
        dd.BadRequestError,
        dd.AuthenticationError,
        dd.PermissionDeniedError,
        dd.NotFoundError,
        dd.RateLimitError,
        dd.ServerError,
    ):
        assert issubclass(cls, dd.APIError) and issubclass(cls, dd.LLMObsError)
    assert issubclass(dd.APITimeoutError, dd.APIConnectionError)
    assert issubclass(dd.ResponseValidationError, dd.LLMObsError)
    assert dd.errors.error_class_for(418) is dd.APIError
    assert dd.errors.error_class_for(503) is dd.ServerError
    assert dd.errors.error_class_for(999) is dd.APIError  # not HTTP's 5xx class


async def test_cancelled_call_leaves_the_client_usable(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    client = make_client(fake)
    fake.inject(Fault.delay(5.0))
    task = asyncio.create_task(first_page(client, fake.project_id))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(await first_page(client, fake.project_id)) == 5
