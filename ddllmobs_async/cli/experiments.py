"""``ddllmobs experiments ...``: stream experiments page by page."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncGenerator
from typing import Any, TextIO

from ddllmobs_async.cli import _args, _output
from ddllmobs_async.cli._common import (
    PROJECT_ID_ENV,
    Subcommands,
    UsageError,
    add_connection_options,
    add_paging_options,
    make_client,
)
from ddllmobs_async.cli._stream import stream_pages
from ddllmobs_async.cli.events import add_events_parser
from ddllmobs_async.export import _cli as parquet
from ddllmobs_async.models import ExperimentPage

__all__ = ["export_prefetch", "register", "stream_experiments"]


def register(commands: Subcommands) -> None:
    """Register ``experiments`` and its actions."""
    experiments = commands.add_parser("experiments", help="list experiments")
    actions = experiments.add_subparsers(metavar="ACTION", required=True)
    _add_list_parser(actions)
    add_events_parser(actions)


def _add_list_parser(commands: Subcommands) -> None:
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
    filters.add_argument(
        "--metadata",
        action="append",
        type=_args.parse_metadata,
        metavar="KEY=VALUE",
        help="metadata contains KEY=VALUE, or KEY:=JSON for non-strings (repeatable)",
    )
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
    paging = add_paging_options(parser, "experiments")
    paging.add_argument(
        "--prefetch",
        type=_args.non_negative_int,
        metavar="N",
        help="fetch up to N pages ahead while earlier ones are written (default: 0; 1 with "
        "--format parquet)",
    )
    paging.add_argument(
        "--format",
        choices=(*_output.FORMATS, parquet.PARQUET),
        default="table",
        help="output format (default: table); parquet: a resumable dataset in --output",
    )
    parquet.add_parquet_options(paging, target="DIR")
    parser.set_defaults(handler=_list_experiments)


async def _list_experiments(args: argparse.Namespace) -> int:
    project_id = args.project_id
    if project_id is None and args.dataset_id is None:
        project_id = os.environ.get(PROJECT_ID_ENV) or None
        if project_id is None:
            raise UsageError(f"pass --project-id or --dataset-id (or set {PROJECT_ID_ENV})")
    output = parquet.parquet_output(args, unsupported=("--cursor", "--limit"))
    filters: dict[str, Any] = {
        "project_id": project_id,
        "dataset_id": args.dataset_id,
        "ids": args.ids,
        "name": args.name,
        "experiment": args.experiment,
        "metadata": dict(args.metadata) if args.metadata else None,
        "parent_experiment_ids": args.parent_ids,
        "is_deleted": True if args.deleted else None,
        "include_user_data": args.include_user_data,
        "include_dataset_names": args.include_dataset_names,
        "page_size": args.page_size,
    }
    async with make_client(args) as client:
        if output is not None:
            return await parquet.export_experiments(
                client, output, {**filters, "prefetch": export_prefetch(args.prefetch)}
            )
        pages = client.list_experiment_pages(
            **filters, cursor=args.cursor, max_items=args.limit, prefetch=args.prefetch or 0
        )
        writer = _output.experiment_writer(args.format, sys.stdout)
        return await stream_experiments(pages, writer, cursor=args.cursor)


async def stream_experiments(
    pages: AsyncGenerator[ExperimentPage],
    writer: _output.ExperimentWriter,
    *,
    cursor: str | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Write every page of ``pages`` as it arrives (see :func:`stream_pages`)."""
    return await stream_pages(
        pages,
        lambda page: page.experiments,
        lambda page: page.next_cursor,
        writer,
        noun="experiment",
        cursor=cursor,
        stderr=stderr or sys.stderr,
    )


def export_prefetch(given: int | None) -> int:
    """Pages an export reads ahead: 1 unless ``--prefetch`` says otherwise (0 included)."""
    return 1 if given is None else given
