"""Injectable failures: error statuses, rate limits, dropped and truncated connections."""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
from aiohttp import web

from ddllmobs_async.testing._jsonapi import CONTENT_TYPE, error_body, json_response, reason
from ddllmobs_async.testing._ratelimit import format_seconds

FaultKind = Literal[
    "status",
    "rate_limited",
    "retry_after",
    "delay",
    "reset",
    "truncated",
    "non_json",
    "html",
    "redirect",
]

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_TRUNCATED_DOCUMENT = json.dumps(
    {"data": [{"id": f"{i:08d}", "type": "experiments", "attributes": {}} for i in range(64)]}
).encode()
_GARBAGE = b"upstream connect error or disconnect/reset before headers. \x00{not json"
_GATEWAY_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def _positive(seconds: float, what: str) -> float:
    if seconds < 0:
        raise ValueError(f"{what} must not be negative, got {seconds!r}")
    return float(seconds)


@attrs.frozen
class Fault:
    """A failure the fake serves instead of a normal answer.

    Build faults with the classmethods (``Fault.status(503)``, ``Fault.reset()`` ...) and
    queue them with :meth:`FakeLLMObs.inject` or let :meth:`FakeLLMObs.fail_randomly`
    pick them.

    Attributes:
        kind: Which failure this is; also the ``fault`` recorded on the request.
        code: HTTP status sent (``None`` for ``delay`` and ``reset``).
        seconds: ``reset`` header value, ``Retry-After`` value or delay, by kind.
        limit: ``x-ratelimit-limit`` for ``rate_limited`` (``None``: the server's).
        json_body: Whether a ``rate_limited`` 429 carries ``{"errors": [...]}``.
        errors: JSON:API ``errors`` list for ``status`` faults (``None``: a default one).
        location: ``Location`` header of a ``redirect``.
    """

    kind: FaultKind
    code: int | None = None
    seconds: float = 0.0
    limit: int | None = None
    json_body: bool = False
    errors: tuple[Mapping[str, Any] | str, ...] | None = attrs.field(default=None, hash=False)
    location: str | None = None

    @property
    def name(self) -> str:
        """The name recorded in :attr:`RecordedRequest.fault` (same as :attr:`kind`)."""
        return self.kind

    @classmethod
    def status(cls, code: int, errors: Sequence[Mapping[str, Any] | str] | None = None) -> Fault:
        """Answer with HTTP ``code`` and a JSON:API error document.

        Args:
            code: Status code, for example 500, 503 or 400.
            errors: The ``errors`` array to send: JSON:API error objects, or strings
                like Datadog's ``{"errors": ["Forbidden"]}``. A generic
                ``{"status", "title", "detail"}`` object by default.
        """
        if not 200 <= code <= 599:
            raise ValueError(f"status code must be 200-599, got {code!r}")
        return cls(kind="status", code=code, errors=None if errors is None else tuple(errors))

    @classmethod
    def rate_limited(
        cls, reset: float = 1.0, limit: int | None = None, json_body: bool = False
    ) -> Fault:
        """Answer 429 with ``x-ratelimit-*`` headers (remaining 0) like Datadog.

        Args:
            reset: ``x-ratelimit-reset`` in seconds.
            limit: ``x-ratelimit-limit``; the server's configured limit by default.
            json_body: Send ``{"errors": ["Too many requests"]}`` instead of the empty
                body Datadog actually sends.
        """
        return cls(
            kind="rate_limited",
            code=429,
            seconds=_positive(reset, "reset"),
            limit=limit,
            json_body=json_body,
        )

    @classmethod
    def retry_after(cls, seconds: float) -> Fault:
        """Answer 429 with only a ``Retry-After`` header (no ``x-ratelimit-*``)."""
        return cls(kind="retry_after", code=429, seconds=_positive(seconds, "seconds"))

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds``, then answer normally (for client timeout tests)."""
        return cls(kind="delay", seconds=_positive(seconds, "seconds"))

    @classmethod
    def reset(cls) -> Fault:
        """Drop the connection (TCP reset) without sending any response."""
        return cls(kind="reset")

    @classmethod
    def truncated(cls) -> Fault:
        """Answer 200 whose ``Content-Length`` promises more body than is sent, then close."""
        return cls(kind="truncated", code=200)

    @classmethod
    def non_json(cls, status: int = 200) -> Fault:
        """Answer ``status`` with a ``text/plain`` body that is not JSON."""
        return cls(kind="non_json", code=status)

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """Answer ``status`` with an HTML gateway error page (``text/html``)."""
        return cls(kind="html", code=status)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Fault:
        """Answer a redirect to ``location`` (absolute URL or path)."""
        if status not in _REDIRECT_CODES:
            raise ValueError(f"redirect status must be one of {sorted(_REDIRECT_CODES)}")
        return cls(kind="redirect", code=status, location=location)


def quick_faults() -> tuple[Fault, ...]:
    """The faults :meth:`FakeLLMObs.fail_randomly` picks from by default."""
    return (
        Fault.status(500),
        Fault.status(502),
        Fault.status(503),
        Fault.status(504),
        Fault.rate_limited(reset=0.05),
        Fault.reset(),
        Fault.truncated(),
        Fault.non_json(),
        Fault.html(),
        Fault.delay(0.02),
    )


async def serve_fault(
    fault: Fault,
    request: web.Request,
    headers: Mapping[str, str],
    rate_limited_headers: Mapping[str, str],
) -> web.StreamResponse:
    """Answer ``request`` with ``fault`` (any kind but ``delay``).

    Args:
        fault: What to do.
        request: The request being answered.
        headers: ``x-ratelimit-*`` headers for ordinary answers.
        rate_limited_headers: ``x-ratelimit-*`` headers for a ``rate_limited`` 429.
    """
    code = fault.code or 200
    if fault.kind == "reset":
        return drop_connection(request)
    if fault.kind == "truncated":
        return await _truncated(request, headers)
    if fault.kind == "rate_limited":
        return _rate_limited(fault, rate_limited_headers)
    if fault.kind == "retry_after":
        retry = {"Retry-After": format_seconds(fault.seconds)}
        return web.Response(status=429, body=b"", content_type=CONTENT_TYPE, headers=retry)
    if fault.kind == "non_json":
        return web.Response(status=code, body=_GARBAGE, content_type="text/plain", headers=headers)
    if fault.kind == "html":
        page = _GATEWAY_PAGE.format(code=code, reason=reason(code))
        return web.Response(status=code, text=page, content_type="text/html", headers=headers)
    if fault.kind == "redirect":
        assert fault.location is not None
        return web.Response(status=code, headers={**headers, "Location": fault.location})
    errors = list(fault.errors) if fault.errors is not None else None
    body = {"errors": errors} if errors is not None else error_body(code, "Injected fault.")
    return json_response(body, code, headers)


def _rate_limited(fault: Fault, headers: Mapping[str, str]) -> web.Response:
    if fault.json_body:
        return json_response({"errors": ["Too many requests"]}, 429, headers)
    return web.Response(status=429, body=b"", content_type=CONTENT_TYPE, headers=headers)


def drop_connection(request: web.Request) -> web.StreamResponse:
    """Reset the TCP connection; aiohttp then quietly drops the placeholder response."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=500)


async def _truncated(request: web.Request, headers: Mapping[str, str]) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=headers)
    response.content_type = CONTENT_TYPE
    response.content_length = len(_TRUNCATED_DOCUMENT)
    await response.prepare(request)
    await response.write(_TRUNCATED_DOCUMENT[: len(_TRUNCATED_DOCUMENT) // 3])
    if request.transport is not None:
        request.transport.close()
    return response
