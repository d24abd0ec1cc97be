"""What the fake saw: recorded requests and counters."""

from __future__ import annotations

import json as jsonlib
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy


@attrs.frozen
class RecordedRequest:
    """One request the fake received, with what it answered.

    Attributes:
        method: HTTP method (``"GET"``, ``"POST"`` ...).
        path: URL path without the query string.
        query: Decoded query parameters in order, repeats kept.
        headers: Case-insensitive copy of the request headers.
        body: Raw request body.
        json: The body decoded as JSON, or ``None`` if empty or not JSON.
        status: Status code the fake answered; ``None`` if it dropped the connection or
            is still answering.
        fault: :attr:`Fault.name` of the injected fault applied, or ``None``.
        endpoint: ``"experiments"``, ``"analytics"``, ``"events"``, ``"projects"`` or
            ``None`` for any other path.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: CIMultiDictProxy[str] = attrs.field(hash=False, repr=False)
    body: bytes = attrs.field(repr=False)
    json: Any = attrs.field(hash=False, repr=False)
    status: int | None = None
    fault: str | None = None
    endpoint: str | None = None

    def params(self, name: str) -> list[str]:
        """Return every value of query parameter ``name``, in order (empty if absent)."""
        return [value for key, value in self.query if key == name]

    def param(self, name: str) -> str | None:
        """Return the first value of query parameter ``name``, or ``None``."""
        values = self.params(name)
        return values[0] if values else None


def record_of(request: web.Request, body: bytes, endpoint: str | None) -> RecordedRequest:
    """Return a :class:`RecordedRequest` for a request that has not been answered yet."""
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query=tuple(request.query.items()),
        headers=CIMultiDictProxy(CIMultiDict(request.headers)),
        body=body,
        json=_decode(body),
        endpoint=endpoint,
    )


def _decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return jsonlib.loads(body)
    except ValueError:
        return None


@attrs.frozen
class FakeStats:
    """Counters over every answered request since start (or the last reset).

    Attributes:
        requests: Requests answered (or dropped).
        by_status: Count per HTTP status code sent.
        rate_limited: 429 responses sent, by the limiter or by faults.
        connection_resets: Connections dropped without a response.
        truncated: Responses cut short on purpose.
        faults: Count per applied fault name.
    """

    requests: int
    by_status: Mapping[int, int]
    rate_limited: int
    connection_resets: int
    truncated: int
    faults: Mapping[str, int]


class Recorder:
    """Keeps requests in arrival order and completes them when answered."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._statuses: Counter[int] = Counter()
        self._faults: Counter[str] = Counter()
        self._answered = 0
        self._resets = 0

    def clear(self) -> None:
        """Forget every request and counter (requests still in flight finish uncounted)."""
        self.requests = []
        self._statuses = Counter()
        self._faults = Counter()
        self._answered = 0
        self._resets = 0

    def arrive(self, record: RecordedRequest) -> None:
        """Append a request that is about to be answered."""
        self.requests.append(record)

    def finish(self, record: RecordedRequest, status: int | None, fault: str | None) -> None:
        """Store the answer of ``record`` (ignored if it was cleared meanwhile)."""
        index = _position(self.requests, record)
        if index is None:
            return
        self.requests[index] = attrs.evolve(record, status=status, fault=fault)
        self._answered += 1
        if status is None:
            self._resets += 1
        else:
            self._statuses[status] += 1
        if fault is not None:
            self._faults[fault] += 1

    def stats(self) -> FakeStats:
        """Return a snapshot of the counters."""
        return FakeStats(
            requests=self._answered,
            by_status=dict(self._statuses),
            rate_limited=self._statuses[429],
            connection_resets=self._resets,
            truncated=self._faults["truncated"],
            faults=dict(self._faults),
        )


def _position(records: list[RecordedRequest], record: RecordedRequest) -> int | None:
    for index in range(len(records) - 1, -1, -1):
        if records[index] is record:
            return index
    return None
