"""Pure interpretation of an HTTP answer: ``(status, headers, body)`` -> JSON or a typed error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from ddllmobs_async._converters import decode_json, gc_paused, loads, structure_error_details
from ddllmobs_async._ratelimit import RateLimitInfo, parse_rate_limit, parse_retry_after
from ddllmobs_async.errors import APIError, LLMObsError, RateLimitError, error_class_for

T = TypeVar("T")


@attrs.frozen
class DeferredError:
    """A schema error found inside the retry loop, to be raised after it (never retried)."""

    error: LLMObsError


# Below this size a body decodes into a few dozen objects: pausing the GC (a context manager
# per response) costs more than any collection it could spare.
_PAUSE_GC_FROM_BYTES = 64 * 1024


def interpret_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    parse: Callable[[Any], T],
    *,
    method: str,
    path: str,
) -> T | DeferredError:
    """``parse`` of a 2xx answer's decoded JSON; anything else raises its ``LLMObsError``.

    An unreadable body raises here (inside the retry loop: it is retried). ``parse``'s own
    errors (schema problems) are returned as :class:`DeferredError` instead, for the caller
    to raise after the loop, so they are never retried. For a large body (a page), decoding
    and ``parse`` share one GC pause.
    """
    if not 200 <= status < 300:
        raise api_error(status, headers, body, method=method, path=path)
    if len(body) < _PAUSE_GC_FROM_BYTES:
        return _decode_and_parse(body, status, parse)
    with gc_paused():
        # the decoded JSON is freed on return, while the GC is still paused, so no
        # collection ever walks it
        return _decode_and_parse(body, status, parse)


def _decode_and_parse(body: bytes, status: int, parse: Callable[[Any], T]) -> T | DeferredError:
    data = decode_json(body, status=status)
    try:
        return parse(data)
    except LLMObsError as error:
        return DeferredError(error)


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
