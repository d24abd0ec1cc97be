"""``ddllmobs fake-server``: the fake Datadog served on a local port."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ddllmobs_async.cli import _args
from ddllmobs_async.cli._common import (
    BASE_URL_ENV,
    EXIT_OK,
    PROJECT_ID_ENV,
    Subcommands,
    UsageError,
)

if TYPE_CHECKING:
    from ddllmobs_async.testing import FakeLLMObs

__all__ = ["environment_lines", "register", "seeded_fake", "serve_fake"]


def register(commands: Subcommands) -> None:
    """Register ``fake-server``."""
    parser = commands.add_parser(
        "fake-server",
        help="serve a fake Datadog API on 127.0.0.1 for local development",
        description="Serve a fake Datadog LLM Observability API on 127.0.0.1 with N seeded "
        "experiments in one project, until Ctrl-C or SIGTERM. Once it listens, it prints "
        f"`export {BASE_URL_ENV}=...` lines (the base URL, the project id and the keys) for a "
        "shell to source, and writes them to --env-file if given.",
    )
    parser.add_argument(
        "--port",
        type=_args.port_number,
        default=0,
        help="port to listen on (default: 0, any free port)",
    )
    parser.add_argument(
        "--experiments",
        type=_args.non_negative_int,
        default=25,
        metavar="N",
        help="experiments listed (soft-deleted ones come on top; default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (default: 0)")
    parser.add_argument(
        "--now",
        type=_args.parse_time,
        metavar="TIME",
        help="the moment the data leads up to, for reproducible data: an ISO time with a "
        "timezone (default: now, so that --from 24h finds data)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="also write the export lines to PATH, a new file, once the server listens "
        "(an existing file is never overwritten; removed when the server stops)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_args.parse_rate_limit,
        metavar="LIMIT/PERIOD",
        help="enforce LIMIT requests per PERIOD seconds per endpoint, e.g. 100/60 "
        "(default: no limit)",
    )
    parser.add_argument(
        "--latency",
        type=_args.non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="delay every answer (default: 0)",
    )
    parser.add_argument(
        "--events-end",
        choices=("null", "empty", "no-meta"),
        default="null",
        help='how the last page of an experiment\'s events ends: "after": null, "after": "" '
        "or no meta at all (default: %(default)s)",
    )
    parser.add_argument(
        "--summary-pages",
        choices=("every", "first", "last"),
        default="every",
        help="which events pages carry the summary metrics (default: %(default)s)",
    )
    parser.set_defaults(handler=serve_fake)


def seeded_fake(n_experiments: int, seed: int, **options: Any) -> FakeLLMObs:
    """A fake listing ``n_experiments`` experiments (soft-deleted ones come on top)."""
    from ddllmobs_async.testing import FakeLLMObs  # imports aiohttp.web: only when needed
    from ddllmobs_async.testing._data import total_for_live

    return FakeLLMObs.seeded(n_experiments=total_for_live(n_experiments), seed=seed, **options)


def environment_lines(fake: FakeLLMObs) -> str:
    """``export NAME=value`` lines that point a shell (and the library) at ``fake``."""
    variables = {
        BASE_URL_ENV: fake.url,
        PROJECT_ID_ENV: fake.project_id,
        "DD_API_KEY": fake.api_key,
        "DD_APP_KEY": fake.app_key,
    }
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())


async def serve_fake(args: argparse.Namespace) -> int:
    """Run the fake until SIGINT / SIGTERM, after printing how to reach it.

    Raises:
        UsageError: ``--env-file`` names a path that exists (never overwritten) or that
            cannot be written, or ``--port`` cannot be listened on.
    """
    fake = seeded_fake(
        args.experiments,
        args.seed,
        port=args.port,
        rate_limit=args.rate_limit,
        latency=args.latency,
        now=args.now,
        events_end=args.events_end,
        summary_pages=args.summary_pages,
    )
    env_file: Path | None = args.env_file
    if env_file is not None:
        _check_new_file(env_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl-C only
            loop.add_signal_handler(signum, stop.set)
    try:
        await _start(fake, args.port)
        written: _Written | None = None
        try:
            lines = environment_lines(fake)
            if env_file is not None:
                written = _create(env_file, lines)
            sys.stdout.write(lines)
            sys.stdout.flush()
            _announce(fake, args.experiments)
            await stop.wait()
            stats = fake.stats
        finally:
            if written is not None:
                written.remove()
            await fake.close()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    print(f"Stopped after {stats.requests} requests.", file=sys.stderr)
    return EXIT_OK


async def _start(fake: FakeLLMObs, port: int) -> None:
    try:
        await fake.start()
    except OSError as error:
        raise UsageError(
            f"--port {port}: cannot listen on 127.0.0.1:{port}: {error.strerror or error}"
        ) from None


def _announce(fake: FakeLLMObs, listed: int) -> None:
    deleted = len(fake.experiments) - listed
    print(
        f"Fake Datadog LLM Observability API on {fake.url}: {listed} experiments listed "
        f"(+ {deleted} soft-deleted) in project {fake.project_id}; Ctrl-C to stop.\n"
        "In another shell, run the export lines above (or `. PATH` with --env-file PATH), "
        "then try:\n  ddllmobs experiments list",
        file=sys.stderr,
        flush=True,
    )


def _check_new_file(path: Path) -> None:
    """Refuse a ``--env-file`` the server could not create: it never overwrites a file."""
    if path.exists() or path.is_symlink():
        raise UsageError(
            f"--env-file {path} already exists: fake-server will not overwrite a file it "
            "did not create; remove it or name a new file"
        )
    if not path.parent.is_dir():
        raise UsageError(f"--env-file {path}: no directory {path.parent}")


@attrs.frozen
class _Written:
    """The ``--env-file`` this server created: removed on exit while it is still that file."""

    path: Path
    text: str
    identity: tuple[int, int]

    def remove(self) -> None:
        """Unlink the file unless someone replaced or edited it meanwhile."""
        with contextlib.suppress(OSError):
            if _identity(self.path) == self.identity and self.path.read_text() == self.text:
                self.path.unlink()


def _create(path: Path, text: str) -> _Written:
    """Write ``text`` to a new file at ``path``, complete once it appears there.

    The text goes to a temporary file first, linked to ``path`` (which fails if something
    took ``path`` meanwhile), so a shell polling for ``path`` never sources half of it.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        partial.write_text(text)
        os.link(partial, path)
        return _Written(path, text, _identity(path))
    except FileExistsError:
        _check_new_file(path)
        raise
    except OSError as error:
        raise UsageError(f"cannot write --env-file {path}: {error.strerror or error}") from None
    finally:
        partial.unlink(missing_ok=True)


def _identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_dev, status.st_ino
