"""Shared fixtures: a fake Datadog on loopback and clients bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

import ddllmobs_async as dd
from ddllmobs_async.testing import FakeLLMObs

FAST_RETRIES = dd.RetryPolicy(
    max_retries=3, initial_delay=0.001, max_delay=0.01, rate_limit_jitter=0.01
)

ClientFactory = Callable[..., dd.LLMObsClient]


class AggregatesInFlight:
    """Wraps ``client.aggregate`` to record the most calls in flight at once (``peak``)."""

    def __init__(self, client: dd.LLMObsClient) -> None:
        self.now = self.peak = 0
        self._aggregate = client.aggregate
        client.aggregate = self._counting  # type: ignore[method-assign]

    async def _counting(self, query: dd.AggregateQuery) -> dd.AggregateResult:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            return await self._aggregate(query)
        finally:
            self.now -= 1


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMObs]:
    async with FakeLLMObs.seeded(n_experiments=60) as server:
        yield server


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Build clients for a fake (fast retries by default); all closed after the test."""
    clients: list[dd.LLMObsClient] = []

    def build(server: FakeLLMObs, **options: Any) -> dd.LLMObsClient:
        options.setdefault("retry_policy", FAST_RETRIES)
        client = dd.LLMObsClient(server.api_key, server.app_key, base_url=server.url, **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, for tests that drive the fake without the client."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def client(fake: FakeLLMObs, make_client: ClientFactory) -> dd.LLMObsClient:
    return make_client(fake)
