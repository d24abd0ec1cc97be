"""Pytest fixtures for testing code that uses ``ddllmobs_async``.

This plugin is registered through the ``pytest11`` entry point, so installing
``ddllmobs-async`` makes its fixtures available in your own test suite without any
``conftest.py`` changes. It needs `pytest-asyncio <https://pytest-asyncio.readthedocs.io>`_
(the fixtures are asynchronous) and imports nothing heavy until a fixture is used.

Fixtures:
    ``llmobs_fake``: a started :class:`~ddllmobs_async.testing.FakeLLMObs` built by
        :meth:`FakeLLMObs.seeded() <ddllmobs_async.testing.FakeLLMObs.seeded>` (25
        experiments of :data:`~ddllmobs_async.testing.DEFAULT_PROJECT_ID` with eval
        events), closed after the test. Pass options with the ``llmobs_fake`` marker,
        e.g. ``@pytest.mark.llmobs_fake(n_experiments=100, rate_limit=(10, 0.5))``.
    ``llmobs_client``: an open :class:`ddllmobs_async.LLMObsClient` pointed at
        ``llmobs_fake`` with its keys, closed after the test.

Example:
    ```python
    import pytest

    from ddllmobs_async import LLMObsClient
    from ddllmobs_async.testing import FakeLLMObs, Fault


    async def count_experiments(client: LLMObsClient, project_id: str) -> int:  # your code
        return len([exp async for exp in client.list_experiments(project_id=project_id)])


    async def test_survives_a_503(llmobs_fake: FakeLLMObs, llmobs_client: LLMObsClient) -> None:
        llmobs_fake.inject(Fault.status(503))
        assert await count_experiments(llmobs_client, llmobs_fake.project_id) == 22


    @pytest.mark.llmobs_fake(n_experiments=3, latency=0.05)
    async def test_small_and_slow(llmobs_fake: FakeLLMObs, llmobs_client: LLMObsClient) -> None:
        assert await count_experiments(llmobs_client, llmobs_fake.project_id) == 3
    ```

With pytest-asyncio in ``strict`` mode, mark your tests with ``@pytest.mark.asyncio``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_asyncio import fixture as _async_fixture

    from ddllmobs_async import LLMObsClient
    from ddllmobs_async.testing import FakeLLMObs
else:
    try:
        from pytest_asyncio import fixture as _async_fixture
    except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio to run
        _async_fixture = pytest.fixture

_MARKER = "llmobs_fake"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``llmobs_fake`` marker."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**options): options for FakeLLMObs.seeded() used by the llmobs_fake fixture",
    )


@_async_fixture
async def llmobs_fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeLLMObs]:
    """A started ``FakeLLMObs.seeded()``; options come from ``@pytest.mark.llmobs_fake``."""
    from ddllmobs_async.testing import FakeLLMObs

    marker = request.node.get_closest_marker(_MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    async with FakeLLMObs.seeded(**options) as fake:
        yield fake


@_async_fixture
async def llmobs_client(llmobs_fake: FakeLLMObs) -> AsyncIterator[LLMObsClient]:
    """An open ``ddllmobs_async.LLMObsClient`` talking to ``llmobs_fake``."""
    from ddllmobs_async import LLMObsClient

    client = LLMObsClient(
        api_key=llmobs_fake.api_key, app_key=llmobs_fake.app_key, base_url=llmobs_fake.url
    )
    async with client:
        yield client
