"""Opaque keyset pagination cursors.

A cursor remembers the sort key ``(created_at in ns, id)`` of the last experiment served
and the page number. It is standard base64 that always contains ``+``, ``/`` and ``=``, so
a client that forgets to percent-encode it in the query string gets a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import attrs

from ddllmobs_async.testing._jsonapi import ApiError

# b"\xfb\xff\xbf" encodes to "+/+/": every cursor carries both characters.
_MAGIC = b"\xfb\xff\xbf"
_PARAMETER = "page[cursor]"

SortKey = tuple[int, str]


@attrs.frozen
class Cursor:
    """Position in a listing: after ``key`` (``None``: from the start), page number ``page``."""

    key: SortKey | None
    page: int

    def encode(self) -> str:
        """Return the opaque token sent as ``meta.after``."""
        payload: dict[str, Any] = {"k": list(self.key) if self.key else None, "p": self.page}
        raw = _MAGIC + json.dumps(payload, separators=(",", ":")).encode()
        if len(raw) % 3 == 0:
            raw += b" "  # JSON ignores it; it guarantees "=" padding
        return base64.b64encode(raw).decode("ascii")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parse a token made by :meth:`encode`.

        Raises:
            ApiError: 400 naming ``page[cursor]`` if the token is malformed.
        """
        try:
            raw = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("is not valid base64") from None
        if not raw.startswith(_MAGIC):
            raise _invalid("was not issued by this server")
        try:
            payload = json.loads(raw[len(_MAGIC) :])
        except ValueError:
            raise _invalid("is corrupt") from None
        return cls(key=_key(payload), page=_page(payload))


def _key(payload: Any) -> SortKey | None:
    key = payload.get("k") if isinstance(payload, dict) else None
    if key is None:
        return None
    if (
        isinstance(key, list)
        and len(key) == 2
        and isinstance(key[0], int)
        and isinstance(key[1], str)
    ):
        return (key[0], key[1])
    raise _invalid("is corrupt")


def _page(payload: Any) -> int:
    page = payload.get("p") if isinstance(payload, dict) else None
    if isinstance(page, int) and not isinstance(page, bool) and page >= 0:
        return page
    raise _invalid("is corrupt")


def _invalid(problem: str) -> ApiError:
    return ApiError(400, f"The pagination cursor {problem}.", parameter=_PARAMETER)
