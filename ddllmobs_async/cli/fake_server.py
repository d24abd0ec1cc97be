"""``ddllmobs fake-server``: the fake Datadog served on a local port."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING, Any

from ddllmobs_async.cli import _args
from ddllmobs_async.cli._common import BASE_URL_ENV, EXIT_OK, PROJECT_ID_ENV, Subcommands

if TYPE_CHECKING:
    from ddllmobs_async.testing import FakeLLMObs

__all__ = ["register", "seeded_fake", "serve_fake"]


def register(commands: Subcommands) -> None:
    """Register ``fake-server``."""
    parser = commands.add_parser(
        "fake-server",
        help="serve a fake Datadog API on 127.0.0.1 for local development",
        description="Serve a fake Datadog LLM Observability API on 127.0.0.1 with N seeded "
        "experiments in one project, until Ctrl-C or SIGTERM. It prints the base URL, the "
        "project id and the keys as KEY=VALUE lines.",
    )
    parser.add_argument(
        "--port",
        type=_args.port_number,
        default=0,
        help="port to listen on (default: 0, any free port)",
    )
    parser.add_argument(
        "--experiments",
        type=_args.non_negative_int,
        default=25,
        metavar="N",
        help="experiments to serve (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (default: 0)")
    parser.add_argument(
        "--rate-limit",
        type=_args.parse_rate_limit,
        metavar="LIMIT/PERIOD",
        help="enforce LIMIT requests per PERIOD seconds per endpoint, e.g. 100/60 "
        "(default: no limit)",
    )
    parser.add_argument(
        "--latency",
        type=_args.non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="delay every answer (default: 0)",
    )
    parser.set_defaults(handler=serve_fake)


def seeded_fake(n_experiments: int, seed: int, **options: Any) -> FakeLLMObs:
    """A fake listing ``n_experiments`` experiments (soft-deleted ones come on top)."""
    from ddllmobs_async.testing import FakeLLMObs  # imports aiohttp.web: only when needed
    from ddllmobs_async.testing._data import total_for_live

    return FakeLLMObs.seeded(n_experiments=total_for_live(n_experiments), seed=seed, **options)


async def serve_fake(args: argparse.Namespace) -> int:
    """Run the fake until SIGINT / SIGTERM, after printing how to reach it."""
    fake = seeded_fake(
        args.experiments,
        args.seed,
        port=args.port,
        rate_limit=args.rate_limit,
        latency=args.latency,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl-C only
            loop.add_signal_handler(signum, stop.set)
    try:
        async with fake:
            sys.stdout.write(
                f"{BASE_URL_ENV}={fake.url}\n"
                f"{PROJECT_ID_ENV}={fake.project_id}\n"
                f"DD_API_KEY={fake.api_key}\n"
                f"DD_APP_KEY={fake.app_key}\n"
            )
            sys.stdout.flush()
            print(
                f"Fake Datadog LLM Observability API on {fake.url} with "
                f"{len(fake.experiments)} experiments; Ctrl-C to stop. Try:\n"
                f"  ddllmobs experiments list --base-url {fake.url} "
                f"--project-id {fake.project_id} --api-key {fake.api_key} "
                f"--app-key {fake.app_key}",
                file=sys.stderr,
                flush=True,
            )
            await stop.wait()
            stats = fake.stats
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    print(f"Stopped after {stats.requests} requests.", file=sys.stderr)
    return EXIT_OK
