"""The aiohttp example cancels a handler, and its call to Datadog, when the client leaves.

aiohttp's default (``handler_cancellation=False``) lets a handler run to its end after its
client has disconnected. The example's ``main()`` serves with ``handler_cancellation=True``:
these tests serve the app ``main()`` builds with the options it passes to ``web.run_app``,
on 127.0.0.1, against ``FakeLLMObs`` whose analytics answer is late.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ddllmobs_async.testing import FakeLLMObs, Fault
from examples import aiohttp_backend

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UPSTREAM_DELAY = 1.5


def app_and_options_of_main(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[web.Application, dict[str, Any]]:
    """What ``aiohttp_backend.main()`` hands to ``web.run_app``, without serving it."""
    calls: list[tuple[web.Application, dict[str, Any]]] = []
    monkeypatch.setattr(web, "run_app", lambda app, **options: calls.append((app, options)))
    aiohttp_backend.main()
    ((app, options),) = calls
    return app, options


async def handler_outcome_after_disconnect(
    app: web.Application, runner_options: dict[str, Any], experiment_id: str
) -> dict[str, float]:
    """Serve ``app``, let a client give up after 0.2 s, and report how its handler ended."""
    outcome: dict[str, float] = {}
    ended = asyncio.Event()
    started = time.monotonic()

    @web.middleware
    async def watch(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except asyncio.CancelledError:
            outcome["cancelled_after"] = time.monotonic() - started
            raise
        finally:
            outcome["ended_after"] = time.monotonic() - started
            ended.set()

    app.middlewares.append(watch)
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as http:
            with pytest.raises(asyncio.TimeoutError):
                async with http.get(
                    f"http://127.0.0.1:{port}/scores/{experiment_id}",
                    timeout=aiohttp.ClientTimeout(total=0.2),
                ):
                    pass
        await asyncio.wait_for(ended.wait(), UPSTREAM_DELAY + 2)
    finally:
        await runner.cleanup()
    return outcome


@pytest.fixture
def env_for(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeLLMObs], None]:
    def point_at(fake: FakeLLMObs) -> None:
        monkeypatch.delenv("DD_SITE", raising=False)
        monkeypatch.setenv("DD_API_KEY", fake.api_key)
        monkeypatch.setenv("DD_APP_KEY", fake.app_key)
        monkeypatch.setenv("DD_LLMOBS_BASE_URL", fake.url)

    return point_at


async def test_main_cancels_a_handler_whose_client_disconnected(
    monkeypatch: pytest.MonkeyPatch, env_for: Callable[[FakeLLMObs], None]
) -> None:
    async with FakeLLMObs.seeded(n_experiments=3) as fake:
        env_for(fake)
        app, options = app_and_options_of_main(monkeypatch)
        assert options["host"] == "127.0.0.1"
        runner_options = {k: v for k, v in options.items() if k not in ("host", "port")}
        fake.inject(Fault.delay(UPSTREAM_DELAY), endpoint="analytics")
        outcome = await handler_outcome_after_disconnect(
            app, runner_options, fake.experiments[0]["id"]
        )
    assert "cancelled_after" in outcome, outcome  # the awaited aggregate call was cancelled
    assert outcome["ended_after"] < UPSTREAM_DELAY - 0.5  # not when the late answer came


async def test_without_the_option_the_handler_outlives_its_client(
    env_for: Callable[[FakeLLMObs], None],
) -> None:
    """Why ``main()`` passes it: aiohttp's default runs the handler to its end."""
    async with FakeLLMObs.seeded(n_experiments=3) as fake:
        env_for(fake)
        fake.inject(Fault.delay(UPSTREAM_DELAY), endpoint="analytics")
        outcome = await handler_outcome_after_disconnect(
            aiohttp_backend.create_app(), {}, fake.experiments[0]["id"]
        )
    assert "cancelled_after" not in outcome, outcome
    assert outcome["ended_after"] >= UPSTREAM_DELAY
