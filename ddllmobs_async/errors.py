"""The exception hierarchy: every failure the client raises is an :class:`LLMObsError`.

```
LLMObsError
├── APIError                      the server answered with an error status
│   ├── BadRequestError           400
│   ├── AuthenticationError       401
│   ├── PermissionDeniedError     403
│   ├── NotFoundError             404
│   ├── RateLimitError            429 (after retries, or when the wait exceeds the cap)
│   └── ServerError               5xx
├── APIConnectionError            the request never got an answer
│   └── APITimeoutError           ... because an attempt timed out
└── ResponseValidationError       a body that is not the JSON we expect
    └── ResponseTooLargeError     ... because it is larger than ``max_response_bytes``
```

Invalid arguments are programming errors and raise the built-in ``ValueError`` /
``TypeError`` (naming the argument) before any request is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from ddllmobs_async._ratelimit import RateLimitInfo

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIErrorDetail",
    "APIErrorSource",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "LLMObsError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
]


class LLMObsError(Exception):
    """Base class of every error raised by ddllmobs_async.

    Attributes:
        cursor: Set on errors raised by a listing (``list_experiments``,
            ``list_experiment_events``, ``list_projects`` and their page forms): the cursor
            of the page that failed, whether its request failed or its content could not be
            read (``None`` for the first page). Pass it back as ``cursor=`` to resume the
            stream exactly there.
    """

    cursor: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@attrs.frozen(kw_only=True)
class APIErrorSource:
    """Where in the request the server found the problem (JSON:API ``source``).

    Attributes:
        pointer: JSON pointer into the request body, e.g.
            ``/data/attributes/aggregate/compute``; ``None`` when not sent.
        parameter: Name of the query parameter at fault, e.g. ``page[limit]``; ``None`` when
            not sent.
        header: Name of the request header at fault; ``None`` when not sent.
    """

    pointer: str | None = None
    parameter: str | None = None
    header: str | None = None


@attrs.frozen(kw_only=True)
class APIErrorDetail:
    """One entry of Datadog's ``errors`` list.

    A bare string entry (as in 429 bodies: ``{"errors": ["Too many requests"]}``) becomes a
    detail whose ``detail`` is that string.

    Attributes:
        title: Short summary of the problem, e.g. ``Bad Request``; ``None`` when not sent.
        detail: What went wrong, in the server's words; ``None`` when not sent.
        status: The HTTP status as a string, as JSON:API sends it; ``None`` when not sent.
        source: Where in the request the problem is (:class:`APIErrorSource`); ``None`` when
            not sent.
        meta: Any further details the server attached, as sent; ``None`` when not sent.
    """

    title: str | None = None
    detail: str | None = None
    status: str | None = None
    source: APIErrorSource | None = None
    meta: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        text = ": ".join(part for part in (self.title, self.detail) if part) or "(no detail)"
        if self.source is not None:
            where = self.source.pointer or self.source.parameter or self.source.header
            if where:
                text += f" (at {where})"
        return text


class APIError(LLMObsError):
    """The server answered with an error status.

    Attributes:
        status: HTTP status code.
        errors: Datadog's error details, possibly empty (e.g. an empty 429 body).
        headers: Response headers, case-insensitive (they never contain the request's keys).
        body: Raw response body, for debugging.
        method: HTTP method of the request.
        path: Request path (no query string, never any key).
    """

    def __init__(
        self,
        status: int,
        errors: list[APIErrorDetail],
        *,
        method: str = "",
        path: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        self.status = status
        self.errors = errors
        self.method = method
        self.path = path
        self.headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict(headers or {}))
        self.body = body
        details = "; ".join(str(error) for error in errors) or _fallback_text(body)
        where = f" on {method} {path}" if method else ""
        super().__init__(f"HTTP {status}{where}: {details}")


class BadRequestError(APIError):
    """HTTP 400: the request was malformed; ``errors`` say which member or parameter."""


class AuthenticationError(APIError):
    """HTTP 401: the application key is missing or invalid."""


class PermissionDeniedError(APIError):
    """HTTP 403: the API key is invalid or lacks permission."""


class NotFoundError(APIError):
    """HTTP 404: the path or resource does not exist."""


class RateLimitError(APIError):
    """HTTP 429 that retries could not absorb.

    Attributes:
        retry_after: Seconds the server asked us to wait (``X-RateLimit-Reset``, else
            ``Retry-After``), or ``None`` when it did not say.
        rate_limit: The parsed ``X-RateLimit-*`` headers, or ``None``.
    """

    def __init__(
        self,
        status: int,
        errors: list[APIErrorDetail],
        *,
        retry_after: float | None = None,
        rate_limit: RateLimitInfo | None = None,
        method: str = "",
        path: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(status, errors, method=method, path=path, headers=headers, body=body)
        self.retry_after = retry_after
        self.rate_limit = rate_limit
        if retry_after is not None:
            self.message += f" (retry after {retry_after:.2f}s)"
            self.args = (self.message,)

    @property
    def limit(self) -> int | None:
        """Requests allowed per window (``X-RateLimit-Limit``)."""
        return self.rate_limit.limit if self.rate_limit else None

    @property
    def period(self) -> float | None:
        """Window length in seconds (``X-RateLimit-Period``)."""
        return self.rate_limit.period if self.rate_limit else None

    @property
    def remaining(self) -> int | None:
        """Requests left in the window (``X-RateLimit-Remaining``)."""
        return self.rate_limit.remaining if self.rate_limit else None

    @property
    def reset(self) -> float | None:
        """Seconds until the window resets (``X-RateLimit-Reset``)."""
        return self.rate_limit.reset if self.rate_limit else None

    @property
    def name(self) -> str | None:
        """Name of the rate limit (``X-RateLimit-Name``)."""
        return self.rate_limit.name if self.rate_limit else None


class ServerError(APIError):
    """HTTP 5xx: Datadog (or a gateway in front of it) failed."""


class APIConnectionError(LLMObsError):
    """The request got no HTTP answer: DNS, refused or reset connection, TLS failure."""


class APITimeoutError(APIConnectionError):
    """An attempt took longer than the client's ``timeout``."""


class ResponseValidationError(LLMObsError):
    """The response body is not the JSON the API documents.

    Covers non-JSON bodies (an HTML page from a proxy, a body cut short) and JSON missing a
    required field; ``path`` names the offending member, e.g. ``$.data[3].attributes.created_at``.

    Attributes:
        status: HTTP status of the response (``None`` if unknown).
        path: JSON path of the offending member, when known.
    """

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None):
        super().__init__(message)
        self.status = status
        self.path = path


class ResponseTooLargeError(ResponseValidationError):
    """The decoded response body is larger than the client's ``max_response_bytes``.

    Never retried (the same answer would be as large); the connection is closed, not reused.
    """


_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[APIError]:
    """The :class:`APIError` subclass raised for an HTTP status."""
    if 500 <= status < 600:
        return ServerError
    return _STATUS_ERRORS.get(status, APIError)


def _fallback_text(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip()
    return text if text else "(empty body)"
