"""JSON:API bodies and responses the way Datadog sends them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web

CONTENT_TYPE = "application/vnd.api+json"


class ApiError(Exception):
    """A request problem answered with a JSON:API error document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        parameter: str | None = None,
        pointer: str | None = None,
        header: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.source = {
            key: value
            for key, value in (("parameter", parameter), ("pointer", pointer), ("header", header))
            if value is not None
        }

    def body(self) -> dict[str, Any]:
        """Return the ``{"errors": [...]}`` document for this error."""
        return error_body(self.status, self.detail, source=self.source or None)


def reason(status: int) -> str:
    """Return the standard reason phrase of an HTTP status code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_body(
    status: int, detail: str, *, source: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return a JSON:API error document with one error."""
    error: dict[str, Any] = {"status": str(status), "title": reason(status), "detail": detail}
    if source:
        error["source"] = dict(source)
    return {"errors": [error]}


def json_response(
    payload: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Return ``payload`` serialised as ``application/vnd.api+json``."""
    return web.Response(
        status=status,
        body=json.dumps(payload, separators=(",", ":")).encode(),
        content_type=CONTENT_TYPE,
        headers=headers,
    )


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    """Return a response with an empty body (Datadog's 429s look like this)."""
    return web.Response(status=status, body=b"", content_type=CONTENT_TYPE, headers=headers)
