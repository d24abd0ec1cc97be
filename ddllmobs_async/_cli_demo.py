"""``ddllmobs fake-server`` and ``ddllmobs demo``: the fake Datadog, served or shown off."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from ddllmobs_async import _cli_args as types
from ddllmobs_async import _cli_output as output
from ddllmobs_async._cli_common import (
    BASE_URL_ENV,
    EXIT_API_ERROR,
    EXIT_OK,
    PROJECT_ID_ENV,
    add_connection_options,
    make_client,
    report_api_error,
    resolve_keys,
)
from ddllmobs_async._client import LLMObsClient
from ddllmobs_async.errors import LLMObsError
from ddllmobs_async.models import AggregateQuery, Compute

if TYPE_CHECKING:
    from ddllmobs_async.testing import FakeLLMObs

DEMO_PAGE_SIZE = 10


# --- fake-server ---------------------------------------------------------------------------


def add_fake_server_parser(commands: Any) -> None:
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
        type=types.port_number,
        default=0,
        help="port to listen on (default: 0, any free port)",
    )
    parser.add_argument(
        "--experiments",
        type=types.non_negative_int,
        default=25,
        metavar="N",
        help="experiments to serve (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (default: 0)")
    parser.add_argument("--rate-limit", type=types.parse_rate_limit, metavar="LIMIT/PERIOD",
                        help="enforce LIMIT requests per PERIOD seconds per endpoint, "
                        "e.g. 100/60 (default: no limit)")  # fmt: skip
    parser.add_argument(
        "--latency",
        type=types.non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="delay every answer (default: 0)",
    )
    parser.set_defaults(handler=serve_fake)


def _seeded_fake(n_experiments: int, seed: int, **options: Any) -> FakeLLMObs:
    from ddllmobs_async.testing import FakeLLMObs  # imports aiohttp.web: only when needed
    from ddllmobs_async.testing._data import total_for_live

    # N listed experiments; the soft-deleted ones the seed adds come on top.
    return FakeLLMObs.seeded(n_experiments=total_for_live(n_experiments), seed=seed, **options)


async def serve_fake(args: argparse.Namespace) -> int:
    """Run the fake until SIGINT / SIGTERM, after printing how to reach it."""
    fake = _seeded_fake(
        args.experiments, args.seed, port=args.port, rate_limit=args.rate_limit,
        latency=args.latency,
    )  # fmt: skip
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


# --- demo ----------------------------------------------------------------------------------


def add_demo_parser(commands: Any) -> None:
    """Register ``demo``."""
    parser = commands.add_parser(
        "demo",
        help="stream experiments and aggregate their scores (a local fake without keys)",
        description="Stream a project's experiments, then average their eval scores per "
        "experiment. Without DD_API_KEY and DD_APP_KEY (or with --fake) it runs against a "
        "fake Datadog started in-process.",
    )
    add_connection_options(parser)
    parser.add_argument(
        "--fake", action="store_true", help="use the in-process fake even with keys"
    )
    parser.add_argument("--project-id", help=f"project to show (default: ${PROJECT_ID_ENV})")
    parser.add_argument(
        "--experiments",
        type=types.non_negative_int,
        default=25,
        metavar="N",
        help="experiments in the fake (default: %(default)s)",
    )
    parser.set_defaults(handler=run_demo)


async def run_demo(args: argparse.Namespace) -> int:
    """Run the demo against Datadog (keys set) or an in-process fake."""
    api_key, app_key = resolve_keys(args)
    project_id = args.project_id or os.environ.get(PROJECT_ID_ENV)
    if not args.fake and api_key and app_key and project_id:
        async with make_client(args) as client:
            return await demo(client, project_id)
    reason = "no project id given" if api_key and app_key else "no DD_API_KEY/DD_APP_KEY set"
    print(
        f"Running against a fake Datadog on 127.0.0.1 ({reason}; with keys, pass "
        f"--project-id or set {PROJECT_ID_ENV} to use Datadog).",
        file=sys.stderr,
    )
    async with _seeded_fake(args.experiments, 0) as fake:
        client = LLMObsClient(fake.api_key, fake.app_key, base_url=fake.url)
        async with client:
            return await demo(client, fake.project_id)


async def demo(client: LLMObsClient, project_id: str) -> int:
    """List a project's experiments as pages arrive, then average scores per experiment."""
    out = sys.stdout
    out.write(f"Experiments of project {project_id} (newest first, {DEMO_PAGE_SIZE} per page):\n")
    names: dict[str, str] = {}
    writer = output.TableWriter(out)
    progress = output.Progress(sys.stderr)
    writer.begin()
    try:
        pages = client.list_experiment_pages(project_id=project_id, page_size=DEMO_PAGE_SIZE)
        async with aclosing(pages):
            async for page in pages:
                progress.clear()
                writer.write(page.experiments)
                progress.page(len(page.experiments))
                names.update((e.id, e.name) for e in page.experiments)
        progress.clear()
        query = AggregateQuery(
            [Compute("score_value", name="avg_score")], ["experiment-evals"], "*",
            group_by=["experiment_id"],
        )  # fmt: skip
        result = await client.aggregate(query)
    except LLMObsError as error:
        progress.clear()
        report_api_error(error, sys.stderr)
        return EXIT_API_ERROR
    scores = {str(b.by.get("experiment_id")): b.metrics.get("avg_score") for b in result.buckets}
    rows = [
        [experiment_id, name, output.format_number(scores.get(experiment_id))]
        for experiment_id, name in names.items()
    ]
    out.write(
        f"\n{progress.items} experiments in {progress.pages} pages.\n\n"
        f"Average eval score per experiment ({result.hit_count} eval events, query '*'):\n"
    )
    out.write(output.render_table(["EXPERIMENT_ID", "NAME", "AVG_SCORE"], rows))
    out.flush()
    return EXIT_OK
