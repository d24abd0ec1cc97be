"""``ddllmobs demo``: stream a project's experiments and average their scores."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import aclosing

from ddllmobs_async._client import LLMObsClient
from ddllmobs_async.cli import _args, _output
from ddllmobs_async.cli._common import (
    EXIT_API_ERROR,
    EXIT_OK,
    PROJECT_ID_ENV,
    Subcommands,
    add_connection_options,
    make_client,
    report_api_error,
    resolve_keys,
)
from ddllmobs_async.cli._output import plural
from ddllmobs_async.cli.fake_server import seeded_fake
from ddllmobs_async.errors import LLMObsError
from ddllmobs_async.models import AggregateQuery, Compute

__all__ = ["demo", "register", "run_demo"]

DEMO_PAGE_SIZE = 10
_AVERAGE_SCORE = Compute("score_value", name="avg_score")


def register(commands: Subcommands) -> None:
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
        type=_args.non_negative_int,
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
    async with seeded_fake(args.experiments, 0) as fake:
        client = LLMObsClient(fake.api_key, fake.app_key, base_url=fake.url)
        async with client:
            return await demo(client, fake.project_id)


async def demo(client: LLMObsClient, project_id: str) -> int:
    """List a project's experiments as pages arrive, then average scores per experiment."""
    out = sys.stdout
    out.write(f"Experiments of project {project_id} (newest first, {DEMO_PAGE_SIZE} per page):\n")
    names: dict[str, str] = {}
    writer = _output.TableWriter(out)
    progress = _output.Progress(sys.stderr)
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
            [_AVERAGE_SCORE],
            ["experiment-evals"],
            "*",
            group_by=["experiment_id"],
        )
        result = await client.aggregate(query)
    except LLMObsError as error:
        progress.clear()
        report_api_error(error, sys.stderr)
        return EXIT_API_ERROR
    out.write(f"\n{plural(progress.items, 'experiment')} in {plural(progress.pages, 'page')}.\n\n")
    if not result.buckets:
        out.write("No eval events to average (query '*').\n")
        out.flush()
        return EXIT_OK
    scores = {str(b.by.get("experiment_id")): b.value(_AVERAGE_SCORE) for b in result.buckets}
    rows = [
        [experiment_id, name, _output.format_number(scores.get(experiment_id))]
        for experiment_id, name in names.items()
    ]
    out.write(
        f"Average eval score per experiment ({plural(result.hit_count, 'eval event')}, "
        "query '*'):\n"
    )
    out.write(_output.render_table(["EXPERIMENT_ID", "NAME", "AVG_SCORE"], rows))
    out.flush()
    return EXIT_OK
