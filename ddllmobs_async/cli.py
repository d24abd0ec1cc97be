"""The ``ddllmobs`` command line (also ``python -m ddllmobs_async``).

```
ddllmobs demo                                   # no keys needed: runs against a local fake
ddllmobs experiments list --project-id P [--format table|json|jsonl|csv] [filters...]
ddllmobs aggregate --metric score_value:avg --group-by experiment_id [--from 1h]
ddllmobs fake-server [--port 0] [--experiments 25] [--seed 0] [--rate-limit 100/60]
```

Keys come from ``DD_API_KEY`` / ``DD_APP_KEY`` (or ``--api-key`` / ``--app-key``), the site
from ``DD_SITE`` or ``--site``; ``--base-url`` (or ``DDLLMOBS_BASE_URL``) points at a proxy
or at ``ddllmobs fake-server``.

Exit status: 0 success, 1 the API (or the network) failed, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from contextlib import aclosing
from typing import Any, TextIO

from ddllmobs_async import _cli_args as types
from ddllmobs_async import _cli_output as output
from ddllmobs_async._cli_common import (
    EXIT_API_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROJECT_ID_ENV,
    UsageError,
    add_connection_options,
    make_client,
    report_api_error,
)
from ddllmobs_async._cli_demo import add_demo_parser, add_fake_server_parser
from ddllmobs_async._version import __version__
from ddllmobs_async.errors import LLMObsError
from ddllmobs_async.models import AggregateQuery, ExperimentPage, TimeRange

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args))
    except UsageError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LLMObsError as error:
        report_api_error(error, sys.stderr)
        return EXIT_API_ERROR
    except ValueError as error:  # the library validates arguments before any request
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `ddllmobs experiments list | head`
        _silence_stdout()
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ddllmobs",
        description="Datadog LLM Observability experiments from the command line.",
        epilog="Start with `ddllmobs demo`: it needs no keys.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    experiments = commands.add_parser("experiments", help="list experiments")
    experiment_commands = experiments.add_subparsers(metavar="ACTION", required=True)
    _add_list_parser(experiment_commands)
    _add_aggregate_parser(commands)
    add_fake_server_parser(commands)
    add_demo_parser(commands)
    return parser


# --- experiments list ----------------------------------------------------------------------


def _add_list_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "list",
        help="stream experiments, newest first",
        description="Stream experiments, newest first, printing each page as it arrives.",
    )
    add_connection_options(parser)
    filters = parser.add_argument_group("filters (--project-id or --dataset-id is required)")
    filters.add_argument("--project-id", help=f"project id (default: ${PROJECT_ID_ENV})")
    filters.add_argument("--dataset-id", help="dataset id")
    filters.add_argument(
        "--id",
        dest="ids",
        action="append",
        metavar="ID",
        help="only this experiment id (repeatable)",
    )
    filters.add_argument("--name", help="exact run name")
    filters.add_argument("--experiment", help="logical experiment name shared by its runs")
    filters.add_argument("--metadata", action="append", type=types.parse_metadata,
                         metavar="KEY=VALUE",
                         help="metadata contains KEY=VALUE, or KEY:=JSON for non-strings "
                         "(repeatable)")  # fmt: skip
    filters.add_argument(
        "--parent-id",
        dest="parent_ids",
        action="append",
        metavar="ID",
        help="run against this baseline experiment (repeatable)",
    )
    filters.add_argument("--deleted", action="store_true", help="only soft-deleted experiments")
    filters.add_argument("--include-user-data", action="store_true", help="fill in authors")
    filters.add_argument(
        "--include-dataset-names", action="store_true", help="fill in dataset names"
    )
    paging = parser.add_argument_group("paging and output")
    paging.add_argument(
        "--limit", type=types.non_negative_int, metavar="N", help="stop after N experiments"
    )
    paging.add_argument(
        "--page-size",
        type=types.positive_int,
        metavar="N",
        help="experiments per request, 1..5000 (default: the server's, 5000)",
    )
    paging.add_argument("--cursor", help="resume from this cursor (printed when a run fails)")
    paging.add_argument(
        "--prefetch",
        type=types.non_negative_int,
        default=0,
        metavar="N",
        help="fetch up to N pages ahead while earlier ones are written (default: 0)",
    )
    paging.add_argument(
        "--format", choices=output.FORMATS, default="table", help="output format (default: table)"
    )
    parser.set_defaults(handler=_list_experiments)


async def _list_experiments(args: argparse.Namespace) -> int:
    project_id = args.project_id
    if project_id is None and args.dataset_id is None:
        project_id = os.environ.get(PROJECT_ID_ENV) or None
        if project_id is None:
            raise UsageError(f"pass --project-id or --dataset-id (or set {PROJECT_ID_ENV})")
    async with make_client(args) as client:
        pages = client.list_experiment_pages(
            project_id=project_id, dataset_id=args.dataset_id, ids=args.ids, name=args.name,
            experiment=args.experiment,
            metadata=dict(args.metadata) if args.metadata else None,
            parent_experiment_ids=args.parent_ids, is_deleted=True if args.deleted else None,
            include_user_data=args.include_user_data,
            include_dataset_names=args.include_dataset_names,
            page_size=args.page_size, cursor=args.cursor, max_items=args.limit,
            prefetch=args.prefetch,
        )  # fmt: skip
        return await stream_experiments(pages, output.experiment_writer(args.format, sys.stdout))


async def stream_experiments(
    pages: AsyncGenerator[ExperimentPage],
    writer: output.ExperimentWriter,
    *,
    stderr: TextIO | None = None,
) -> int:
    """Write every page of ``pages`` as it arrives, with a progress line on a terminal.

    On an API failure the rows written so far stay written, the error and the cursor to
    resume from go to stderr, and the exit status is 1.
    """
    stderr = stderr or sys.stderr
    progress = output.Progress(stderr)
    writer.begin()
    try:
        async with aclosing(pages):
            async for page in pages:
                progress.clear()
                writer.write(page.experiments)
                progress.page(len(page.experiments))
    except LLMObsError as error:
        progress.clear()
        report_api_error(error, stderr)
        if error.cursor is not None:
            print(
                f"{progress.items} experiments were printed; to resume, rerun with "
                f"--cursor '{error.cursor}'",
                file=stderr,
            )
        return EXIT_API_ERROR
    finally:
        progress.clear()
        writer.end()
    return EXIT_OK


# --- aggregate -----------------------------------------------------------------------------


def _add_aggregate_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "aggregate",
        help="compute metrics over experiment evals",
        description="Run an analytics aggregation over experimentation data.",
    )
    add_connection_options(parser)
    parser.add_argument(
        "--metric",
        dest="metrics",
        action="append",
        required=True,
        type=types.parse_metric,
        metavar="METRIC[:ALIAS]",
        help="metric to compute, e.g. score_value:avg_score (repeatable)",
    )
    parser.add_argument(
        "--index",
        dest="indexes",
        action="append",
        metavar="INDEX",
        help="index to query (repeatable; default: experiment-evals)",
    )
    parser.add_argument(
        "--query", default="*", help="search filter, e.g. @experiment_id:ID (default: *)"
    )
    parser.add_argument(
        "--group-by",
        action="append",
        metavar="FIELD",
        help="field to group by, e.g. experiment_id (repeatable)",
    )
    parser.add_argument(
        "--from",
        dest="time_from",
        type=types.parse_time,
        metavar="TIME",
        help="start: now, 90s, 30m, 1h, 2d (ago) or ISO time with timezone",
    )
    parser.add_argument(
        "--to",
        dest="time_to",
        type=types.parse_time,
        metavar="TIME",
        help="end, same forms as --from (default: now)",
    )
    parser.add_argument(
        "--dataset-version",
        type=types.non_negative_int,
        metavar="N",
        help="only data of this dataset version",
    )
    parser.add_argument("--limit", type=types.positive_int, metavar="N", help="at most N buckets")
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="output format (default: table)",
    )
    parser.set_defaults(handler=_aggregate)


def aggregate_query(args: argparse.Namespace) -> AggregateQuery:
    """The :class:`AggregateQuery` described by ``aggregate``'s options."""
    time = None
    if args.time_from is not None or args.time_to is not None:
        if args.time_from is None:
            raise UsageError("--to needs --from")
        end = args.time_to if args.time_to is not None else types.parse_time("now")
        if args.time_from > end:
            raise UsageError("--from is after --to")
        time = TimeRange(args.time_from, end)
    return AggregateQuery(
        args.metrics,
        args.indexes or ["experiment-evals"],
        args.query,
        group_by=args.group_by or (),
        limit=args.limit,
        dataset_version=args.dataset_version,
        time=time,
    )


async def _aggregate(args: argparse.Namespace) -> int:
    query = aggregate_query(args)
    async with make_client(args) as client:
        result = await client.aggregate(query)
    if args.format == "json":
        print(output.dumps(output.aggregate_record(result)))
    else:
        sys.stdout.write(output.aggregate_table(result))
        print(f"{len(result.buckets)} buckets, {result.hit_count} events matched", file=sys.stderr)
    return EXIT_OK


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
