"""Pure interpretation of answers: status -> typed error, 429 waits, error bodies."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

import ddllmobs_async as dd
from ddllmobs_async._responses import Answer, api_error, decoded_body


def answer(status: int, body: bytes = b"", **headers: str) -> Answer:
    return Answer(status, CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}), body)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, dd.BadRequestError),
        (401, dd.AuthenticationError),
        (403, dd.PermissionDeniedError),
        (404, dd.NotFoundError),
        (409, dd.APIError),
        (429, dd.RateLimitError),
        (500, dd.ServerError),
        (503, dd.ServerError),
    ],
)
def test_each_status_has_its_error_class(status: int, cls: type[dd.APIError]) -> None:
    error = api_error(answer(status), method="GET", path="/x")
    assert type(error) is cls
    assert (error.status, error.method, error.path) == (status, "GET", "/x")


def test_a_redirect_says_it_was_not_followed() -> None:
    error = api_error(answer(302, location="https://elsewhere/"), method="GET", path="/x")
    assert "redirect not followed" in str(error)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x_ratelimit_reset": "7", "retry_after": "30"}, 7.0),  # the reset wins
        ({"retry_after": "30"}, 30.0),
        ({"x_ratelimit_limit": "10"}, None),
        ({}, None),
    ],
)
def test_a_429_carries_the_wait_the_server_asked_for(
    headers: dict[str, str], wait: float | None
) -> None:
    error = api_error(answer(429, b"", **headers), method="POST", path="/x")
    assert isinstance(error, dd.RateLimitError)
    assert error.retry_after == wait


def test_datadog_error_details_are_kept_and_any_body_shape_is_tolerated() -> None:
    body = (
        b'{"errors": [{"title": "Bad Request", "detail": "no index", "source": {"pointer": "/a"}}]}'
    )
    error = api_error(answer(400, body), method="POST", path="/x")
    (detail,) = error.errors
    assert (detail.title, detail.detail, detail.source) == (
        "Bad Request",
        "no index",
        dd.APIErrorSource(pointer="/a"),
    )
    deep = b"[" * 100_000 + b"]" * 100_000
    for odd in (b"<html>502</html>", b'{"errors": "x"}', deep, b"\xff\xfe"):
        assert api_error(answer(502, odd), method="GET", path="/x").errors == []


def test_decoding_a_2xx_body_and_refusing_the_rest() -> None:
    assert decoded_body(answer(200, b'{"a": 1}'), method="GET", path="/x") == {"a": 1}
    with pytest.raises(dd.ResponseValidationError, match="not JSON") as info:
        decoded_body(answer(200, b"<html>"), method="GET", path="/x")
    assert info.value.status == 200
    with pytest.raises(dd.ResponseValidationError, match=r"not JSON|nested too deeply"):
        decoded_body(answer(200, b"[" * 100_000 + b"]" * 100_000), method="GET", path="/x")
    with pytest.raises(dd.NotFoundError):
        decoded_body(answer(404, b"{}"), method="GET", path="/x")
