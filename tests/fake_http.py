"""Raw-HTTP helpers for the tests that drive the fake Datadog without the client."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from multidict import CIMultiDict, CIMultiDictProxy

from ddllmobs_async.testing import FakeLLMObs

RATELIMIT_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-period",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-name",
)


def window_headers(**values: float) -> CIMultiDict[str]:
    """``X-RateLimit-<Name>`` response headers, e.g. ``window_headers(limit=5, reset=1.0)``."""
    return CIMultiDict({f"X-RateLimit-{name.title()}": str(v) for name, v in values.items()})


class Reply(NamedTuple):
    """A fully read answer of the fake."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def keys(fake: FakeLLMObs) -> dict[str, str]:
    """The auth headers the fake accepts."""
    return {"DD-API-KEY": fake.api_key, "DD-APPLICATION-KEY": fake.app_key}
