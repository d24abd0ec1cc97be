"""``ddllmobs experiments events EXPERIMENT_ID``: stream one experiment's spans and evals."""

from __future__ import annotations

import argparse
import sys

from ddllmobs_async.cli import _output
from ddllmobs_async.cli._common import (
    Subcommands,
    add_connection_options,
    add_paging_options,
    make_client,
)
from ddllmobs_async.cli._span_output import span_writer
from ddllmobs_async.cli._stream import stream_pages
from ddllmobs_async.export import _cli as parquet

__all__ = ["add_events_parser"]


def add_events_parser(actions: Subcommands) -> None:
    """Register ``events`` under ``ddllmobs experiments``."""
    parser = actions.add_parser(
        "events",
        help="stream an experiment's spans with their evals",
        description="Stream the spans of one experiment, each with its eval metrics, "
        "printing each page as it arrives (csv: at the end, one column per eval label).",
    )
    parser.add_argument("experiment_id", metavar="EXPERIMENT_ID", help="the experiment")
    add_connection_options(parser)
    paging = add_paging_options(parser, "spans")
    paging.add_argument(
        "--format",
        choices=(*_output.FORMATS, parquet.PARQUET),
        default="table",
        help="table: id, status, duration, evals; jsonl: one span per line with its evals; "
        "csv: one row per span, a column per eval label; parquet: spans/, evals/ and the "
        "summary metrics as a resumable dataset in --output (default: table)",
    )
    parquet.add_parquet_options(paging, target="DIR")
    parser.set_defaults(handler=_list_events)


async def _list_events(args: argparse.Namespace) -> int:
    output = parquet.parquet_output(args, unsupported=("--cursor", "--limit"))
    async with make_client(args) as client:
        if output is not None:
            return await parquet.export_events(
                client, args.experiment_id, output, page_size=args.page_size
            )
        pages = client.list_experiment_event_pages(
            args.experiment_id, page_size=args.page_size, cursor=args.cursor, max_items=args.limit
        )
        return await stream_pages(
            pages,
            lambda page: page.spans,
            lambda page: page.next_cursor,
            span_writer(args.format, sys.stdout),
            noun="span",
            cursor=args.cursor,
            stderr=sys.stderr,
        )
