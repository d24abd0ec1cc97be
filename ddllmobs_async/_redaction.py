"""Keeping the API and application keys out of everything an error carries.

A gateway or proxy may echo the request, keys included, into its answer, and the client puts
parts of answers into its errors: the body and headers of a non-2xx answer, the start of a body
that is not JSON, the wire value that did not fit a model. Each of those goes through here.
"""

from __future__ import annotations

from ddllmobs_async.errors import LLMObsError, ResponseValidationError

REDACTED = "<redacted>"


def redact_text(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every occurrence of ``secrets`` replaced by ``<redacted>``."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def redact_bytes(body: bytes, secrets: tuple[str, ...]) -> bytes:
    """``body`` with every UTF-8 occurrence of ``secrets`` replaced by ``<redacted>``."""
    for secret in secrets:
        body = body.replace(secret.encode(), REDACTED.encode())
    return body


def scrubbed(error: LLMObsError, secrets: tuple[str, ...]) -> LLMObsError:
    """``error`` with ``secrets`` redacted from its message, and no exception chained to it
    (the decoder's or converter's own exception holds the wire value whole)."""
    error.message = redact_text(error.message, secrets)
    error.args = tuple(redact_text(a, secrets) if isinstance(a, str) else a for a in error.args)
    if isinstance(error, ResponseValidationError) and error.path:
        error.path = redact_text(error.path, secrets)
    error.__cause__ = error.__context__ = None
    return error
