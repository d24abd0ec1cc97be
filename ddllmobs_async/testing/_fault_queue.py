"""Which fault the next request gets: queued ones first, then random ones (soak tests)."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable

from ddllmobs_async.testing._faults import Fault


class FaultQueue:
    """Faults waiting for requests, each optionally reserved for one endpoint."""

    def __init__(self) -> None:
        self._queued: deque[tuple[Fault, str | None]] = deque()
        self._random: _RandomFaults | None = None

    def extend(self, faults: Iterable[Fault], endpoint: str | None) -> None:
        """Queue ``faults`` for the next requests (to ``endpoint`` if given)."""
        self._queued.extend((fault, endpoint) for fault in faults)

    def randomly(
        self, rate: float, seed: int, kinds: tuple[Fault, ...], endpoint: str | None
    ) -> None:
        """Give each request a fault from ``kinds`` with probability ``rate`` (0: off)."""
        self._random = _RandomFaults(rate, seed, kinds, endpoint) if rate > 0 else None

    def clear(self) -> None:
        """Drop queued faults and stop random ones."""
        self._queued.clear()
        self._random = None

    def __len__(self) -> int:
        return len(self._queued)

    def next_for(self, endpoint: str | None) -> Fault | None:
        """The fault a request to ``endpoint`` gets, consumed; ``None`` for a normal answer."""
        for index, (fault, only) in enumerate(self._queued):
            if only is None or only == endpoint:
                del self._queued[index]
                return fault
        if self._random is not None:
            return self._random.pick(endpoint)
        return None


class _RandomFaults:
    def __init__(
        self, rate: float, seed: int, kinds: tuple[Fault, ...], endpoint: str | None
    ) -> None:
        self._rate = rate
        self._rng = random.Random(seed)
        self._kinds = kinds
        self._endpoint = endpoint

    def pick(self, endpoint: str | None) -> Fault | None:
        if self._endpoint is not None and endpoint != self._endpoint:
            return None
        if self._rng.random() >= self._rate:
            return None
        return self._rng.choice(self._kinds)
