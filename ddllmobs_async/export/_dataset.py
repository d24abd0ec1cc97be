"""Stream pages from the client into a resumable Parquet dataset."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import pyarrow as pa

from ddllmobs_async._turns import let_others_run
from ddllmobs_async.export._checkpoint import (
    Checkpoint,
    json_arguments,
    remove_leftovers,
    resumable,
    start_afresh,
    write_checkpoint,
)
from ddllmobs_async.export._schemas import EVAL_METRICS_SCHEMA, EXPERIMENTS_SCHEMA, SPANS_SCHEMA
from ddllmobs_async.export._summary import ExportSummary
from ddllmobs_async.export._summary_metrics import SummaryMetrics
from ddllmobs_async.export._tables import (
    eval_metrics_table,
    experiments_table,
    spans_table,
    warm_up,
)
from ddllmobs_async.export._writer import PartFiles, in_thread
from ddllmobs_async.models import ExperimentEventsPage, ExperimentPage

if TYPE_CHECKING:
    from ddllmobs_async._client import LLMObsClient

_Page = TypeVar("_Page", ExperimentPage, ExperimentEventsPage)
_Row = TypeVar("_Row")
#: Rows converted to Arrow in one step of the event loop.
SLICE_ROWS = 1000
Progress = Callable[[ExportSummary], None]
#: Paging arguments an export manages itself (it resumes from its checkpoint).
_MANAGED = ("cursor", "max_items")


async def export_experiments(
    client: LLMObsClient,
    directory: str | PathLike[str],
    *,
    pages_per_file: int = 10,
    overwrite: bool = False,
    progress: Progress | None = None,
    **filters: Any,
) -> ExportSummary:
    """Write every experiment the filters select into a Parquet dataset in ``directory``.

    The files are ``part-00000.parquet``, ``part-00001.parquet``... (schema
    :data:`EXPERIMENTS_SCHEMA`), one per ``pages_per_file`` pages, one row group per page,
    each written to a hidden temporary file and renamed when complete. After each file,
    ``_ddllmobs_export.json`` records the cursor and the export's arguments.

    Called again on the same directory with the same filters, the export continues from its
    checkpoint (an interrupted one writes nothing twice and loses nothing; a complete one
    returns at once). One export at a time per directory. Pages are converted to Arrow on
    the event loop, column by column, in slices of 1000 rows with other tasks running in
    between; Parquet encoding, compression and writing run in a worker thread while the next
    page is fetched.

    Args:
        client: The client to list with.
        directory: The dataset's directory (created if missing).
        pages_per_file: Pages per Parquet file (at least 1).
        overwrite: Delete everything in ``directory`` and start afresh.
        progress: Called after each page with this call's counts so far.
        **filters: Any argument of :meth:`LLMObsClient.list_experiment_pages` except
            ``cursor`` and ``max_items`` (``project_id``, ``page_size``...).
            ``prefetch`` defaults to 1: the next page is fetched while one is written.

    Returns:
        What this call wrote.

    Raises:
        FileExistsError: ``directory`` holds an export of other arguments, or other files
            and no checkpoint (pass ``overwrite=True`` to replace them).
        LLMObsError: The listing failed; the files and checkpoint written so far stay, and
            calling again resumes after the last complete file.
    """
    _check_arguments(pages_per_file, filters)
    prefetch = filters.pop("prefetch", 1)
    filters = _materialised(filters)  # read twice: for the checkpoint and by the listing

    def open_pages(cursor: str | None) -> AsyncGenerator[ExperimentPage]:
        return client.list_experiment_pages(cursor=cursor, prefetch=prefetch, **filters)

    async def tables(page: ExperimentPage) -> tuple[dict[str, pa.Table], int]:
        rows = page.experiments
        return {"": await in_slices(rows, experiments_table)}, len(rows)

    job = _Job(
        kind="experiments",
        arguments=json_arguments(_without_defaults(client, filters)),
        schemas={"": EXPERIMENTS_SCHEMA},
        open_pages=open_pages,
        tables=tables,
    )
    return await _run(job, Path(directory), pages_per_file, overwrite, progress)


async def export_experiment_events(
    client: LLMObsClient,
    experiment_id: str,
    directory: str | PathLike[str],
    *,
    pages_per_file: int = 10,
    page_size: int | None = None,
    prefetch: int = 1,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ExportSummary:
    """Write one experiment's spans and evals into a Parquet dataset in ``directory``.

    Two sub-datasets, written page by page like :func:`export_experiments`:
    ``spans/part-*.parquet`` (:data:`SPANS_SCHEMA`) and ``evals/part-*.parquet``
    (:data:`EVAL_METRICS_SCHEMA`, one row per span eval). The experiment's summary metrics,
    de-duplicated across pages (by ``id``, first seen wins), are written at the end to
    ``summary_metrics.parquet`` (:data:`EVAL_METRICS_SCHEMA`). Resumes like
    :func:`export_experiments`; :attr:`ExportSummary.rows` counts spans.

    Args:
        client: The client to list with.
        experiment_id: The experiment.
        directory: The dataset's directory (created if missing).
        pages_per_file: Pages per Parquet file (at least 1).
        page_size: Spans per page (see :meth:`LLMObsClient.list_experiment_event_pages`).
        prefetch: Pages fetched ahead while one is written.
        overwrite: Delete everything in ``directory`` and start afresh.
        progress: Called after each page with this call's counts so far.

    Raises:
        FileExistsError: As for :func:`export_experiments`.
        LLMObsError: The listing failed (``NotFoundError``: no such experiment); calling
            again resumes after the last complete file.
    """
    _check_arguments(pages_per_file, {})
    summary = SummaryMetrics()

    def open_pages(cursor: str | None) -> AsyncGenerator[ExperimentEventsPage]:
        return client.list_experiment_event_pages(
            experiment_id, page_size=page_size, cursor=cursor, prefetch=prefetch
        )

    async def tables(page: ExperimentEventsPage) -> tuple[dict[str, pa.Table], int]:
        summary.add(page.summary_metrics)
        spans = page.spans
        return {
            "spans": await in_slices(spans, spans_table),
            "evals": await in_slices(spans, eval_metrics_table),
        }, len(spans)

    job = _Job(
        kind="experiment_events",
        arguments={"experiment_id": experiment_id, "page_size": page_size},
        schemas={"spans": SPANS_SCHEMA, "evals": EVAL_METRICS_SCHEMA},
        open_pages=open_pages,
        tables=tables,
        summary=summary,
    )
    return await _run(job, Path(directory), pages_per_file, overwrite, progress)


@attrs.frozen(kw_only=True)
class _Job(Generic[_Page]):
    """What differs between the exports: the pages, their tables and the folders."""

    kind: str
    arguments: dict[str, Any]
    schemas: Mapping[str, pa.Schema]
    open_pages: Callable[[str | None], AsyncGenerator[_Page]]
    tables: Callable[[_Page], Awaitable[tuple[dict[str, pa.Table], int]]]
    summary: SummaryMetrics | None = None


@attrs.define
class _Counts:
    """Progress of this call, and the pages and rows of the file being written."""

    started: float = attrs.field(factory=time.perf_counter)
    resumed_from: str | None = None
    rows: int = 0
    pages: int = 0
    files: int = 0
    file_pages: int = 0
    file_rows: int = 0

    def summary(self) -> ExportSummary:
        return ExportSummary(
            rows=self.rows,
            files=self.files,
            pages=self.pages,
            seconds=time.perf_counter() - self.started,
            resumed_from=self.resumed_from,
        )


async def _run(
    job: _Job[_Page],
    directory: Path,
    pages_per_file: int,
    overwrite: bool,
    progress: Progress | None,
) -> ExportSummary:
    counts = _Counts()
    previous = resumable(directory, job.kind, job.arguments, overwrite=overwrite)
    if previous is not None and previous.complete:
        return counts.summary()
    counts.resumed_from = previous.cursor if previous is not None else None
    checkpoint = previous or Checkpoint(kind=job.kind, arguments=job.arguments)
    files = PartFiles(directory, job.schemas)
    pages = job.open_pages(checkpoint.cursor)
    try:
        async with aclosing(pages):
            async for page in pages:
                if counts.pages == 0:  # the arguments are valid: the first page came
                    await in_thread(functools.partial(_prepare, job, directory, previous))
                tables, rows = await job.tables(page)
                await in_thread(functools.partial(files.write, checkpoint.next_file, tables))
                del tables
                counts.pages += 1
                counts.rows += rows
                counts.file_pages += 1
                counts.file_rows += rows
                if counts.file_pages == pages_per_file or page.next_cursor is None:
                    checkpoint = checkpoint.advanced(
                        cursor=page.next_cursor, pages=counts.file_pages, rows=counts.file_rows
                    )
                    commit = functools.partial(_commit, job, directory, files, checkpoint)
                    counts.files += await in_thread(commit)
                    counts.file_pages = counts.file_rows = 0
                if progress is not None:
                    progress(counts.summary())
        if counts.pages == 0:  # the listing matched nothing without a request (``ids=[]``)
            write = functools.partial(_write_empty, job, directory, previous, files, checkpoint)
            counts.files += await in_thread(write)
    finally:
        files.discard()
    return counts.summary()


async def in_slices(rows: Sequence[_Row], build: Callable[[Sequence[_Row]], pa.Table]) -> pa.Table:
    """``build(rows)``, a slice at a time, letting other tasks run between the slices.

    Converting a page of 5000 experiments holds the loop for about 30 ms; in slices of
    :data:`SLICE_ROWS` no step holds it for more than a few. The table is still written as
    one row group.
    """
    if len(rows) <= SLICE_ROWS:
        return build(rows)
    tables = []
    for start in range(0, len(rows), SLICE_ROWS):
        if start:
            await let_others_run()
        tables.append(build(rows[start : start + SLICE_ROWS]))
    return pa.concat_tables(tables)


def _prepare(job: _Job[Any], directory: Path, previous: Checkpoint | None) -> None:
    warm_up()
    if previous is None:
        start = Checkpoint(kind=job.kind, arguments=job.arguments)
        start_afresh(directory, job.schemas, start)
        return
    remove_leftovers(directory, job.schemas, previous.next_file)
    if job.summary is not None:
        job.summary.load(directory)


def _write_empty(
    job: _Job[Any], directory: Path, previous: Checkpoint | None, files: PartFiles, at: Checkpoint
) -> int:
    """What a single empty page would have written: empty files and a complete checkpoint."""
    _prepare(job, directory, previous)
    files.write(
        at.next_file, {folder: schema.empty_table() for folder, schema in job.schemas.items()}
    )
    return _commit(job, directory, files, at.advanced(cursor=None, pages=0, rows=0))


def _commit(job: _Job[Any], directory: Path, files: PartFiles, checkpoint: Checkpoint) -> int:
    """Publish the files, then the checkpoint that counts them (in a worker thread)."""
    published = files.publish()
    if job.summary is not None:
        published += job.summary.save(directory, final=checkpoint.complete)
    write_checkpoint(directory, checkpoint)
    return published


def _without_defaults(client: LLMObsClient, filters: Mapping[str, Any]) -> dict[str, Any]:
    """The filters that differ from the listing's defaults: what identifies the export.

    ``page_size=None`` or ``include_user_data=False`` given or not is the same export.
    """
    defaults = inspect.signature(client.list_experiment_pages).parameters
    return {
        name: value
        for name, value in filters.items()
        if name not in defaults or value != defaults[name].default
    }


def _materialised(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The filters with iterables (``ids=iter(...)``) read once into lists."""
    return {
        name: list(value)
        if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)
        else value
        for name, value in filters.items()
    }


def _check_arguments(pages_per_file: int, filters: Mapping[str, Any]) -> None:
    if isinstance(pages_per_file, bool) or not isinstance(pages_per_file, int):
        raise TypeError(f"pages_per_file must be an int, got {pages_per_file!r}")
    if pages_per_file < 1:
        raise ValueError(f"pages_per_file must be at least 1, got {pages_per_file}")
    managed = [name for name in _MANAGED if name in filters]
    if managed:
        raise TypeError(
            f"export_experiments does not take {', '.join(managed)}: an export resumes "
            "from its checkpoint when called again on the same directory"
        )
