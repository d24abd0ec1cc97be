"""Pieces every ``ddllmobs`` subcommand shares: connection options, the client, errors."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeAlias

from ddllmobs_async import _constants as const
from ddllmobs_async._client import LLMObsClient
from ddllmobs_async.cli import _args
from ddllmobs_async.cli._usage import refused_connection
from ddllmobs_async.errors import APIError, LLMObsError

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
"""What a subcommand runs: ``args.handler``, set with ``parser.set_defaults(handler=...)``."""

if TYPE_CHECKING:
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subcommands = Any

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

BASE_URL_ENV = "DD_LLMOBS_BASE_URL"
"""Where the library (and so every command) sends requests when no flag says otherwise;
``DDLLMOBS_BASE_URL`` is accepted too."""
PROJECT_ID_ENV = "DD_LLMOBS_PROJECT_ID"

_HINTS = {
    401: "check the application key (DD_APP_KEY or --app-key)",
    403: "check the API key (DD_API_KEY or --api-key) and that --site is your Datadog site",
    404: "check the id you gave (nothing has that id), then --site / --base-url",
}


class UsageError(Exception):
    """A problem with the command line or the environment (exit status 2)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line plus a hint, like the others.

    Each parser sets ``prog`` in the parsed namespace: the deepest subcommand's wins, so
    ``args.prog`` names the command that ran (``ddllmobs experiments list``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_defaults(prog=self.prog)

    def error(self, message: str) -> NoReturn:
        """Print ``message`` and where to find the options; exit with status 2."""
        self.exit(
            EXIT_USAGE,
            f"{self.prog}: error: {message}\nhint: `{self.prog} --help` lists the options\n",
        )


def add_paging_options(
    parser: argparse.ArgumentParser, items: str, *, server_default: bool = True
) -> argparse._ArgumentGroup:
    """Add the "paging and output" group with ``--limit``, ``--page-size`` and ``--cursor``.

    ``items`` names what is listed ("spans"); the caller adds ``--format`` and the rest.
    """
    paging = parser.add_argument_group("paging and output")
    paging.add_argument(
        "--limit", type=_args.non_negative_int, metavar="N", help=f"stop after N {items}"
    )
    default = " (default: the server's, 5000)" if server_default else ""
    paging.add_argument(
        "--page-size",
        type=_args.page_size,
        metavar="N",
        help=f"{items} per request, 1..5000{default}",
    )
    paging.add_argument("--cursor", help="resume from this cursor (printed when a run fails)")
    return paging


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--site``, ``--base-url``, ``--api-key``, ``--app-key``, ``--timeout``..."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--site",
        help="Datadog site, e.g. datadoghq.eu (default: $DD_SITE or datadoghq.com; "
        f"${BASE_URL_ENV} beats $DD_SITE)",
    )
    group.add_argument(
        "--base-url",
        help="API root instead of a site, e.g. the URL `ddllmobs fake-server` prints "
        f"(default: ${BASE_URL_ENV}); not with --site",
    )
    group.add_argument("--api-key", help="Datadog API key (default: $DD_API_KEY)")
    group.add_argument("--app-key", help="Datadog application key (default: $DD_APP_KEY)")
    group.add_argument(
        "--timeout",
        type=_args.positive_float,
        default=const.DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="per attempt (default: %(default)s)",
    )
    group.add_argument(
        "--max-retries",
        type=_args.non_negative_int,
        default=const.DEFAULT_MAX_RETRIES,
        metavar="N",
        help="retries per request (default: %(default)s)",
    )


def resolve_keys(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The keys from the options, else from the environment (``None`` when absent)."""
    api_key = args.api_key or os.environ.get(const.API_KEY_ENV) or None
    app_key = args.app_key or next(
        (os.environ[name] for name in const.APP_KEY_ENVS if os.environ.get(name)), None
    )
    return api_key, app_key


def make_client(args: argparse.Namespace) -> LLMObsClient:
    """A client configured from the connection options and the environment.

    Raises:
        UsageError: A key is missing (naming ``DD_API_KEY`` / ``DD_APP_KEY``), or
            ``--site`` and ``--base-url`` are both given.
        InvalidValue: The site, base URL or a key is invalid (naming the option or the
            environment variable it came from).
    """
    if args.site is not None and args.base_url is not None:
        raise UsageError(
            "--base-url and --site were both given: --base-url names the API root, "
            "--site a Datadog site; pass one"
        )
    api_key, app_key = resolve_keys(args)
    missing = [
        f"{env} (or {option})"
        for env, option, value in (
            (const.API_KEY_ENV, "--api-key", api_key),
            ("DD_APP_KEY", "--app-key", app_key),
        )
        if not value
    ]
    if missing:
        raise UsageError(
            f"missing Datadog keys: set {' and '.join(missing)}; "
            "or try `ddllmobs demo`, which needs none"
        )
    try:  # without either flag, the client reads DD_LLMOBS_BASE_URL, else DD_SITE
        return LLMObsClient(
            api_key,
            app_key,
            site=args.site,
            base_url=args.base_url,
            timeout=args.timeout,
            max_retries=args.max_retries,
        )
    except ValueError as error:
        raise refused_connection(error, args) from None


def report_api_error(error: LLMObsError, stream: TextIO) -> None:
    """Write Datadog's error details (and a hint for auth failures) to ``stream``."""
    stream.write(f"ddllmobs: error: {error}\n")
    if isinstance(error, APIError) and error.status in _HINTS:
        stream.write(f"hint: {_HINTS[error.status]}\n")
    stream.flush()
