"""The ``ddllmobs`` command line (also ``python -m ddllmobs_async``).

```
ddllmobs demo                                   # no keys needed: runs against a local fake
ddllmobs experiments list --project-id P [--format table|json|jsonl|csv] [filters...]
ddllmobs experiments events EXPERIMENT_ID [--format table|json|jsonl|csv] [--limit N]
ddllmobs projects list [--name N] [--id ID]...
ddllmobs aggregate --metric score_value=avg_score --group-by experiment_id [--from 1h]
ddllmobs fake-server [--port 0] [--experiments 25] [--seed 0] [--env-file .ddllmobs-fake.env]
```

Keys come from ``DD_API_KEY`` / ``DD_APP_KEY`` (or ``--api-key`` / ``--app-key``); requests
go to ``--base-url`` or ``--site`` (not both), else ``DD_LLMOBS_BASE_URL`` (which
``ddllmobs fake-server`` prints), else ``DD_SITE``, else datadoghq.com.

Exit status: 0 success, 1 the API (or the network) failed, 2 usage error, 130 interrupted.

One module per command group registers its subcommands (``register(commands)``);
:data:`COMMAND_GROUPS` lists them in the order ``--help`` shows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from ddllmobs_async._version import __version__
from ddllmobs_async.cli import aggregate, demo, experiments, fake_server, projects
from ddllmobs_async.cli._common import (
    EXIT_API_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Handler,
    Parser,
    UsageError,
    report_api_error,
)
from ddllmobs_async.cli._usage import InvalidValue, refused_argument
from ddllmobs_async.errors import LLMObsError

__all__ = ["build_parser", "main"]

COMMAND_GROUPS = (experiments, projects, aggregate, fake_server, demo)


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
    except InvalidValue as error:
        sys.stderr.write(error.report(args.prog))
        return EXIT_USAGE
    except UsageError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LLMObsError as error:
        report_api_error(error, sys.stderr)
        return EXIT_API_ERROR
    except ValueError as error:  # the library validates arguments before any request
        sys.stderr.write(refused_argument(error).report(args.prog))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `ddllmobs experiments list | head`
        _silence_stdout()
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = Parser(
        prog="ddllmobs",
        description="Datadog LLM Observability experiments from the command line.",
        epilog="Start with `ddllmobs demo`: it needs no keys.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
