"""Streaming a paged listing to the terminal: rows as pages arrive, resume hints on failure.

Every listing command (``experiments list`` and the ones after it) runs its pages through
:func:`stream_pages`, so they share exit codes, progress and the resume cursor printed when
the API fails or the user presses Ctrl-C.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from typing import Protocol, TextIO, TypeVar

from ddllmobs_async.cli._common import EXIT_API_ERROR, EXIT_OK, report_api_error
from ddllmobs_async.cli._output import Progress, plural
from ddllmobs_async.errors import APIError, LLMObsError

PageT = TypeVar("PageT")
ItemT = TypeVar("ItemT")
ItemT_contra = TypeVar("ItemT_contra", contravariant=True)


class RowWriter(Protocol[ItemT_contra]):
    """Writes items page by page, flushing after each page."""

    def begin(self) -> None:
        """Write whatever precedes the first row (a header, ``[``)."""

    def write(self, items: Sequence[ItemT_contra]) -> None:
        """Write one page of rows and flush."""

    def end(self) -> None:
        """Write whatever follows the last row (``]``); called on failure too."""


async def stream_pages(
    pages: AsyncGenerator[PageT],
    items: Callable[[PageT], Sequence[ItemT]],
    next_cursor: Callable[[PageT], str | None],
    writer: RowWriter[ItemT],
    *,
    noun: str,
    cursor: str | None = None,
    stderr: TextIO,
) -> int:
    """Write every page of ``pages`` as it arrives, with a progress line on a terminal.

    On an API failure the rows written so far stay written, the error goes to stderr with
    the cursor to resume from (unless rerunning would fail the same way), and the status is
    1. On Ctrl-C the resume cursor is printed too (when there is one), and the
    interruption goes on (exit 130). An argument the listing refuses (``ValueError``, before
    any request) prints nothing on stdout: not even a header.

    Args:
        pages: The listing's pages.
        items: The rows of a page.
        next_cursor: The cursor after a page.
        writer: Where rows go.
        noun: What a row is, for messages (``"experiment"``).
        cursor: The cursor the listing started from (``--cursor``), if any.
        stderr: Where progress and messages go.
    """
    progress = Progress(stderr, noun=noun)
    resume = cursor
    begun = refused = False
    try:
        async with aclosing(pages):
            async for page in pages:
                if not begun:
                    writer.begin()
                    begun = True
                progress.clear()
                rows = items(page)
                writer.write(rows)
                progress.page(len(rows))
                resume = next_cursor(page)
    except LLMObsError as error:
        progress.clear()
        report_api_error(error, stderr)
        _explain_resume(error, cursor, progress, stderr)
        return EXIT_API_ERROR
    except (asyncio.CancelledError, KeyboardInterrupt):
        progress.clear()
        if resume is not None:
            print(
                f"interrupted after {plural(progress.items, noun)}; to resume, rerun with "
                f"--cursor '{resume}'",
                file=stderr,
                flush=True,
            )
        raise
    except ValueError:
        refused = True
        raise
    finally:
        progress.clear()
        if not refused:
            if not begun:
                writer.begin()
            writer.end()
    return EXIT_OK


def _explain_resume(
    error: LLMObsError, cursor: str | None, progress: Progress, stderr: TextIO
) -> None:
    if error.cursor is None:
        return
    if error.cursor == cursor and progress.pages == 0 and _is_client_error(error):
        # The very cursor the user gave was refused: rerunning with it fails the same way.
        print("hint: the API refused --cursor; rerun without it to start over", file=stderr)
        return
    printed = f"{plural(progress.items, progress.noun)} {'was' if progress.items == 1 else 'were'}"
    print(f"{printed} printed; to resume, rerun with --cursor '{error.cursor}'", file=stderr)


def _is_client_error(error: LLMObsError) -> bool:
    return isinstance(error, APIError) and 400 <= error.status < 500 and error.status != 429
