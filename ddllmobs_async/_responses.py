"""Pure interpretation of an HTTP answer: ``(status, headers, body)`` -> JSON or a typed error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ddllmobs_async._converters import decode_json, loads, structure_error_details
from ddllmobs_async._ratelimit import RateLimitInfo, parse_rate_limit, parse_retry_after
from ddllmobs_async.errors import APIError, RateLimitError, error_class_for


def interpret_response(
    status: int, headers: Mapping[str, str], body: bytes, *, method: str, path: str
) -> Any:
    """Decoded JSON of a 2xx answer; for anything else raise the matching ``LLMObsError``."""
    if 200 <= status < 300:
        return decode_json(body, status=status)
    raise api_error(status, headers, body, method=method, path=path)


def api_error(
    status: int, headers: Mapping[str, str], body: bytes, *, method: str, path: str
) -> APIError:
    """The typed error for a non-2xx answer, carrying Datadog's error details."""
    details = structure_error_details(_loads_or_none(body))
    if status == 429:
        info = parse_rate_limit(headers)
        return RateLimitError(
            status,
            details,
            retry_after=_server_wait(info, headers),
            rate_limit=info,
            method=method,
            path=path,
            headers=headers,
            body=body,
        )
    error = error_class_for(status)(
        status, details, method=method, path=path, headers=headers, body=body
    )
    if 300 <= status < 400:
        error.message = (
            f"HTTP {status} on {method} {path}: redirect not followed "
            "(keys are only ever sent to the configured host)"
        )
        error.args = (error.message,)
    return error


def _server_wait(info: RateLimitInfo | None, headers: Mapping[str, str]) -> float | None:
    if info is not None and info.reset is not None:
        return info.reset
    return parse_retry_after(headers)


def _loads_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return loads(body)
    except ValueError:
        return None
