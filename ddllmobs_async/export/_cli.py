"""``--format parquet`` for the ``ddllmobs`` commands (imported by ``ddllmobs_async.cli``).

pyarrow is imported only when a Parquet export runs, so the CLI works without the extra.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ddllmobs_async.cli._common import EXIT_API_ERROR, EXIT_OK, UsageError, report_api_error
from ddllmobs_async.cli._output import Progress, plural
from ddllmobs_async.errors import LLMObsError
from ddllmobs_async.export._checkpoint import CHECKPOINT_NAME, read_checkpoint
from ddllmobs_async.export._summary import ExportSummary

if TYPE_CHECKING:
    from ddllmobs_async._client import LLMObsClient
    from ddllmobs_async.models import AggregateQuery, AggregateResult

PARQUET = "parquet"

_INSTEAD = {  # what a Parquet export does instead of an option of the other formats
    "--cursor": "an export resumes from its checkpoint with --resume",
    "--limit": "an export writes everything; Ctrl-C stops it and --resume continues it",
}


def add_parquet_options(group: Any, *, target: str) -> None:
    """Add ``--output`` (and ``--resume`` for a directory) to an argument group."""
    if target == "DIR":
        group.add_argument(
            "--output",
            metavar="DIR",
            help="with --format parquet: the dataset directory (Parquet files + checkpoint)",
        )
        group.add_argument(
            "--resume",
            action="store_true",
            help="with --format parquet: continue the export checkpointed in --output",
        )
    else:
        group.add_argument(
            "--output", metavar="FILE", help="with --format parquet: the Parquet file to write"
        )


def parquet_output(args: argparse.Namespace, *, unsupported: tuple[str, ...] = ()) -> Path | None:
    """The ``--output`` of a Parquet run (``None`` for other formats); usage errors raised."""
    resume = getattr(args, "resume", False)
    if args.format != PARQUET:
        if args.output is not None or resume:
            raise UsageError("--output and --resume go with --format parquet")
        return None
    if args.output is None:
        raise UsageError("--format parquet needs --output")
    _require_pyarrow()  # before any request
    for option in unsupported:
        if getattr(args, option.lstrip("-").replace("-", "_"), None) is not None:
            raise UsageError(f"{option} does not apply to --format parquet: {_INSTEAD[option]}")
    output = Path(args.output)
    if not hasattr(args, "resume"):  # one file
        if output.is_dir():
            raise UsageError(f"--output {output} is a directory: name the file to write")
        if not output.parent.is_dir():
            raise UsageError(f"--output {output}: no directory {output.parent}")
        return output
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file: name a directory for the dataset")
    if (output / CHECKPOINT_NAME).is_file() and not resume:
        raise UsageError(
            f"{output} holds an export checkpoint: pass --resume to continue it, "
            "or choose another --output"
        )
    return output


async def export_experiments(
    client: LLMObsClient, output: Path, filters: dict[str, Any], *, stderr: TextIO = sys.stderr
) -> int:
    """``ddllmobs experiments list --format parquet``."""
    _require_pyarrow()
    from ddllmobs_async.export._dataset import export_experiments as export

    return await _run(
        lambda progress: export(client, output, progress=progress, **filters),
        output,
        "experiment",
        stderr,
    )


async def export_events(
    client: LLMObsClient,
    experiment_id: str,
    output: Path,
    *,
    page_size: int | None,
    stderr: TextIO = sys.stderr,
) -> int:
    """``ddllmobs experiments events ID --format parquet``."""
    _require_pyarrow()
    from ddllmobs_async.export._dataset import export_experiment_events as export

    return await _run(
        lambda progress: export(
            client, experiment_id, output, page_size=page_size, progress=progress
        ),
        output,
        "span",
        stderr,
    )


def write_buckets(
    result: AggregateResult, query: AggregateQuery, output: Path, *, stderr: TextIO = sys.stderr
) -> int:
    """``ddllmobs aggregate --format parquet``: one file, written then renamed."""
    _require_pyarrow()
    from ddllmobs_async.export._tables import buckets_table
    from ddllmobs_async.export._writer import write_file

    try:
        write_file(output, buckets_table(result, query))
    except OSError as error:
        raise UsageError(f"cannot write --output {output}: {error.strerror or error}") from None
    print(f"{plural(len(result.buckets), 'bucket')} written to {output}", file=stderr)
    return EXIT_OK


async def _run(start: Any, output: Path, noun: str, stderr: TextIO) -> int:
    progress = Progress(stderr, noun=noun)
    counted = 0

    def on_page(summary: ExportSummary) -> None:
        nonlocal counted
        progress.clear()
        progress.page(summary.rows - counted)
        counted = summary.rows

    try:
        summary: ExportSummary = await start(on_page)
    except OSError as error:
        if error.errno is None:  # the export refused the directory (it names no option)
            raise UsageError(_refused(output, error)) from None
        resume = f"; {_resume_hint(output)}" if _resumable(output) else ""
        raise UsageError(
            f"cannot write --output {output}: {error.strerror or error}{resume}"
        ) from None
    except LLMObsError as error:
        progress.clear()
        report_api_error(error, stderr)
        if _resumable(output):
            print(_resume_hint(output), file=stderr)
        return EXIT_API_ERROR
    except (asyncio.CancelledError, KeyboardInterrupt):
        progress.clear()
        hint = _resume_hint(output) if _resumable(output) else "nothing was written"
        print(f"interrupted; {hint}", file=stderr)
        raise
    finally:
        progress.clear()
    if summary.pages == 0 and summary.files == 0:
        print(f"{output} already holds the complete export", file=stderr)
    else:
        print(
            f"{plural(summary.rows, noun)} in {plural(summary.files, 'file')} written to "
            f"{output} ({summary.seconds:.1f}s)",
            file=stderr,
        )
    return EXIT_OK


def _refused(output: Path, error: OSError) -> str:
    """The export's refusal in the command line's terms (its message says overwrite=True)."""
    try:
        checkpoint = read_checkpoint(output)
    except (OSError, ValueError, TypeError):
        return str(error)
    if checkpoint is None and output.is_dir():
        return (
            f"--output {output} is not empty and holds no export checkpoint "
            f"({CHECKPOINT_NAME}): choose a new or empty --output directory"
        )
    if checkpoint is not None:
        return (
            f"--output {output} holds an export of other arguments ({checkpoint.kind} "
            f"{checkpoint.arguments}): rerun with the options it was started with and "
            "--resume to continue it, or choose another --output directory"
        )
    return str(error)


def _resumable(output: Path) -> bool:
    """Whether an export wrote its checkpoint in ``output`` (this run or an earlier one)."""
    return (output / CHECKPOINT_NAME).is_file()


def _resume_hint(output: Path) -> str:
    return f"the files written so far are kept: rerun with --resume to continue into {output}"


def _require_pyarrow() -> None:
    from ddllmobs_async.export import _MISSING_PYARROW

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UsageError(_MISSING_PYARROW) from None
