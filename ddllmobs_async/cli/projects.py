"""``ddllmobs projects list``: find projects (and their ids) by name or id."""

from __future__ import annotations

import argparse
import csv
import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import attrs

from ddllmobs_async.cli import _output
from ddllmobs_async.cli._common import (
    Subcommands,
    add_connection_options,
    add_paging_options,
    make_client,
)
from ddllmobs_async.cli._output import (
    JsonlWriter,
    JsonWriter,
    Writer,
    format_time,
    json_value,
)
from ddllmobs_async.cli._stream import RowWriter, stream_pages
from ddllmobs_async.models import Project

__all__ = ["register"]

PROJECT_FIELDS = ("id", "name", "description", "created_at", "updated_at")


def register(commands: Subcommands) -> None:
    """Register ``projects`` and its actions."""
    projects = commands.add_parser("projects", help="list projects")
    actions = projects.add_subparsers(metavar="ACTION", required=True)
    parser = actions.add_parser(
        "list",
        help="stream projects, newest first",
        description="Stream projects, newest first: the project ids experiments are listed by.",
    )
    add_connection_options(parser)
    filters = parser.add_argument_group("filters")
    filters.add_argument("--name", help="only projects with this name")
    filters.add_argument(
        "--id", dest="ids", action="append", metavar="ID", help="only this project (repeatable)"
    )
    paging = add_paging_options(parser, "projects", server_default=False)
    paging.add_argument(
        "--format", choices=_output.FORMATS, default="table", help="output format (default: table)"
    )
    parser.set_defaults(handler=_list_projects)


async def _list_projects(args: argparse.Namespace) -> int:
    async with make_client(args) as client:
        pages = client._project_pages(
            ids=args.ids,
            name=args.name,
            page_size=args.page_size,
            cursor=args.cursor,
            max_items=args.limit,
        )
        return await stream_pages(
            pages,
            lambda page: page.projects,
            lambda page: page.next_cursor,
            project_writer(args.format, sys.stdout),
            noun="project",
            cursor=args.cursor,
            stderr=sys.stderr,
        )


def project_record(project: Project) -> dict[str, Any]:
    """A project as a JSON-compatible dict (timestamps as ISO strings)."""
    return attrs.asdict(project, value_serializer=json_value)


class _Table(Writer):
    def begin(self) -> None:
        self.out.write(_line(["ID", "NAME", "CREATED", "DESCRIPTION"]))

    def write(self, projects: Sequence[Project]) -> None:
        for p in projects:
            cells = [p.id, p.name, format_time(p.created_at), p.description or ""]
            self.out.write(_line(cells))
        self.out.flush()


def _line(cells: Sequence[str]) -> str:
    widths = (36, 28, 20)
    padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
    return "  ".join([*padded, *cells[len(widths) :]]).rstrip() + "\n"


class _Csv(Writer):
    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        self._csv = csv.writer(out, lineterminator="\n")

    def begin(self) -> None:
        self._csv.writerow(PROJECT_FIELDS)

    def write(self, projects: Sequence[Project]) -> None:
        for project in projects:
            record = project_record(project)
            self._csv.writerow(["" if record[f] is None else record[f] for f in PROJECT_FIELDS])
        self.out.flush()


def project_writer(kind: str, out: TextIO) -> RowWriter[Project]:
    """The writer for ``--format kind``."""
    writers: dict[str, Callable[[TextIO], RowWriter[Project]]] = {
        "table": _Table,
        "json": functools.partial(JsonWriter, record=project_record),
        "jsonl": functools.partial(JsonlWriter, record=project_record),
        "csv": _Csv,
    }
    return writers[kind](out)
