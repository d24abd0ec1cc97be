"""Values the library refuses, reported in the words of the command line.

The library's messages name its own arguments (``AggregateQuery.limit must be ...``); the
command line prefixes them with the option or environment variable the user typed
(``argument --limit: AggregateQuery.limit must be ...``), as argparse does for the values it
refuses itself, and adds the same hint.
"""

from __future__ import annotations

import argparse
import os
import re

from ddllmobs_async import _constants as const

# The library's argument names -> the option of every command that passes them.
_OPTIONS = {
    "project_id": "--project-id",
    "dataset_id": "--dataset-id",
    "ids": "--id",
    "name": "--name",
    "experiment": "--experiment",
    "experiment_id": "EXPERIMENT_ID",
    "metadata": "--metadata",
    "parent_experiment_ids": "--parent-id",
    "max_items": "--limit",
    "page_size": "--page-size",
    "prefetch": "--prefetch",
    "cursor": "--cursor",
    "timeout": "--timeout",
    "base_url": "--base-url",
    "AggregateQuery.limit": "--limit",
    "AggregateQuery.dataset_version": "--dataset-version",
    "AggregateQuery.indexes": "--index",
    "AggregateQuery.indexes[]": "--index",
    "AggregateQuery.query": "--query",
    "AggregateQuery.group_by": "--group-by",
    "AggregateQuery.compute": "--metric",
    "GroupBy.field": "--group-by",
    "Compute.metric": "--metric",
    "Compute.name": "--metric",
    "TimeRange.start": "--from",
    "TimeRange.end": "--to",
}
_SUBJECT = re.compile(r"[A-Za-z_][\w.]*(?:\[\])?")
_KEYS = (
    ("api_key", "--api-key", (const.API_KEY_ENV,)),
    ("app_key", "--app-key", const.APP_KEY_ENVS),
)


class InvalidValue(Exception):
    """A value refused after parsing (exit status 2), with where the user gave it."""

    def __init__(self, message: str, source: str | None) -> None:
        super().__init__(message)
        self.source = source
        """``argument --limit``, ``environment variable DD_SITE``, or ``None`` if unknown."""

    def report(self, prog: str) -> str:
        """Two lines like argparse's own: the error, then where the options are listed."""
        where = f"{self.source}: " if self.source else ""
        return f"{prog}: error: {where}{self}\nhint: `{prog} --help` lists the options\n"


def refused_argument(error: ValueError) -> InvalidValue:
    """``error`` from the library, naming the option its message is about (if one is)."""
    message = str(error)
    subject = _SUBJECT.match(message)
    option = _OPTIONS.get(subject.group()) if subject else None
    return InvalidValue(message, f"argument {option}" if option else None)


def refused_connection(error: ValueError, args: argparse.Namespace) -> InvalidValue:
    """``error`` from the client's constructor, naming the option or variable it came from.

    A message about ``DD_LLMOBS_BASE_URL`` names the variable already.
    """
    message = str(error)
    source: str | None = None
    if message.startswith("unknown Datadog site"):
        source = "argument --site" if args.site is not None else _variable((const.SITE_ENV,))
    elif message.startswith("base_url "):
        source = "argument --base-url"
    for argument, option, variables in _KEYS:
        if message.startswith(f"{argument} "):
            given = bool(getattr(args, argument))  # an empty one is not used
            source = f"argument {option}" if given else _variable(variables)
    return InvalidValue(message, source)


def _variable(names: tuple[str, ...]) -> str | None:
    name = next((name for name in names if os.environ.get(name)), None)
    return f"environment variable {name}" if name else None
