"""Pure interpretation of an HTTP answer: ``(status, headers, body)`` -> JSON or a typed error."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any, NamedTuple

from multidict import CIMultiDict

from ddllmobs_async._converters.errors import structure_error_details
from ddllmobs_async._json import decode_json, loads_or_none
from ddllmobs_async._ratelimit import parse_rate_limit, server_wait
from ddllmobs_async._redaction import redact_bytes, redact_text
from ddllmobs_async.errors import APIError, RateLimitError, error_class_for

# Below this size a body decodes into a few dozen objects: pausing the GC costs more than
# any collection it could spare.
_PAUSE_GC_FROM_BYTES = 64 * 1024


class Answer(NamedTuple):
    """An HTTP answer, read completely (its connection already released).

    A named tuple: internal, made once per attempt, and cheaper to build than an attrs
    instance (some 3,000 CPU instructions per aggregate call, callgrind).
    """

    status: int
    headers: Mapping[str, str]
    body: bytes


def without_secrets(answer: Answer, secrets: tuple[str, ...]) -> Answer:
    """The answer with every occurrence of ``secrets`` in its body and header values replaced
    by ``<redacted>``: a gateway that echoes the request must not put our keys into the
    error raised for its answer."""
    headers = answer.headers
    if any(secret in value for value in headers.values() for secret in secrets):
        headers = CIMultiDict(
            (name, redact_text(value, secrets)) for name, value in headers.items()
        )
    return Answer(answer.status, headers, redact_bytes(answer.body, secrets))


def decoded_body(answer: Answer, *, method: str, path: str, secrets: tuple[str, ...] = ()) -> Any:
    """The decoded JSON of a 2xx answer; anything else raises its ``LLMObsError``.

    ``secrets`` are redacted from the start of a body that is not JSON, quoted in the error.

    Raises:
        APIError: A non-2xx status (the subclass for that status).
        ResponseValidationError: The body is not JSON.
    """
    if not 200 <= answer.status < 300:
        raise api_error(answer, method=method, path=path)
    with gc_paused(len(answer.body)):
        return decode_json(answer.body, status=answer.status, secrets=secrets)


def api_error(answer: Answer, *, method: str, path: str) -> APIError:
    """The typed error for a non-2xx answer, carrying Datadog's error details."""
    status, headers, body = answer.status, answer.headers, answer.body
    details = structure_error_details(loads_or_none(body))
    if status == 429:
        return RateLimitError(
            status,
            details,
            retry_after=server_wait(headers),
            rate_limit=parse_rate_limit(headers),
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


class gc_paused:
    """Pause the cyclic GC while a large body (a page, by default) is decoded or structured.

    A 5000-item page allocates tens of thousands of containers at once; with the GC on, that
    triggers collections walking the page being built and the previous one (still alive
    while the consumer reads it). Measured over 30 pages of 5000 experiments, decoding and
    structuring took 149-159 ms of CPU per page (median; 217-234 ms at worst) with the GC
    on, 121-127 ms (158-164 ms at worst) with this pause. Nothing made here is cyclic, so no
    garbage is missed. A GC the caller disabled stays disabled; nested pauses are no-ops.

    A class, not a ``@contextmanager`` generator: it wraps every answer, most of them small,
    and the generator version cost some 10,000 CPU instructions more per aggregate call
    (callgrind: 1.3% of the call).
    """

    __slots__ = ("_pausing",)

    def __init__(self, body_size: int = _PAUSE_GC_FROM_BYTES) -> None:
        self._pausing = body_size >= _PAUSE_GC_FROM_BYTES and gc.isenabled()

    def __enter__(self) -> None:
        if self._pausing:
            gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self._pausing:
            gc.enable()
