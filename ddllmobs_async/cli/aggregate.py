"""``ddllmobs aggregate``: one analytics aggregation over experiment evals."""

from __future__ import annotations

import argparse
import sys

from ddllmobs_async.cli import _args, _output
from ddllmobs_async.cli._common import (
    EXIT_API_ERROR,
    EXIT_OK,
    Subcommands,
    UsageError,
    add_connection_options,
    make_client,
)
from ddllmobs_async.cli._output import plural
from ddllmobs_async.export import _cli as parquet
from ddllmobs_async.models import AggregateQuery, TimeRange

__all__ = ["aggregate_query", "register"]


def register(commands: Subcommands) -> None:
    """Register ``aggregate``."""
    parser = commands.add_parser(
        "aggregate",
        help="compute metrics over experiment evals",
        description="Run an analytics aggregation over experiment evals: the API selects "
        "the eval events that match --query (and --from/--to, --dataset-version), groups them "
        "by the --group-by fields, and computes each --metric per group.",
    )
    add_connection_options(parser)
    parser.add_argument(
        "--metric",
        dest="metrics",
        action="append",
        required=True,
        type=_args.parse_metric,
        metavar="METRIC[=NAME]",
        help="what to compute per group, named NAME in the output: score_value is the "
        "average score of every matching eval (whatever its label: add "
        "--query '@label:faithfulness' for one eval), count the number of events; e.g. "
        "score_value=avg_score (repeatable)",
    )
    parser.add_argument(
        "--index",
        dest="indexes",
        action="append",
        metavar="INDEX",
        help="index to query (repeatable; default: experiment-evals)",
    )
    parser.add_argument(
        "--query",
        default="*",
        help="which eval events: @field:value terms with AND, OR, NOT/-, parentheses, e.g. "
        "'@experiment_id:ID @label:faithfulness' (default: *, every event)",
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
        type=_args.parse_time,
        metavar="TIME",
        help="start: now, 90s, 30m, 1h, 2d (ago) or ISO time with timezone",
    )
    parser.add_argument(
        "--to",
        dest="time_to",
        type=_args.parse_time,
        metavar="TIME",
        help="end, same forms as --from (default: now)",
    )
    parser.add_argument(
        "--dataset-version",
        type=_args.non_negative_int,
        metavar="N",
        help="only data of this dataset version",
    )
    parser.add_argument("--limit", type=_args.positive_int, metavar="N", help="at most N buckets")
    parser.add_argument(
        "--format",
        choices=("table", "json", parquet.PARQUET),
        default="table",
        help="output format (default: table); parquet: one file, --output FILE",
    )
    parquet.add_parquet_options(parser, target="FILE")
    parser.set_defaults(handler=_aggregate)


def aggregate_query(args: argparse.Namespace) -> AggregateQuery:
    """The :class:`AggregateQuery` described by ``aggregate``'s options."""
    time = None
    if args.time_from is not None or args.time_to is not None:
        if args.time_from is None:
            raise UsageError("--to needs --from")
        end = args.time_to if args.time_to is not None else _args.parse_time("now")
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
    output = parquet.parquet_output(args)
    async with make_client(args) as client:
        result = await client.aggregate(query)
    try:
        if output is not None:
            return parquet.write_buckets(result, query, output)
        if args.format == "json":
            print(_output.dumps(_output.aggregate_record(result, query.compute)))
        else:
            sys.stdout.write(_output.aggregate_table(result, query.compute))
    except KeyError as error:  # Bucket.value: a metric missing or ambiguous in the answer
        print(f"ddllmobs: error: {error.args[0]}", file=sys.stderr)
        return EXIT_API_ERROR
    if args.format != "json":
        counts = f"{plural(len(result.buckets), 'bucket')}, {plural(result.hit_count, 'event')}"
        print(f"{counts} matched", file=sys.stderr)
    return EXIT_OK
