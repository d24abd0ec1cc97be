"""Parquet files written off the event loop: one row group per page, write then rename."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from ddllmobs_async.export._checkpoint import part_name, temporary

_T = TypeVar("_T")

# Columns whose values repeat from row to row: Parquet's dictionary encoding pays there and is
# wasted work on ids, timestamps, numbers and JSON text. Writing a page of 5000 experiments
# took 15.3 ms with every column dictionary-encoded (pyarrow's default) and 12.2 ms with these
# only, in a file 1% smaller.
_REPEATING = frozenset(
    {
        "project_id",
        "dataset_id",
        "dataset_name",
        "dataset_version",
        "status",
        "error_type",
        "name",
        "label",
        "metric_type",
        "categorical_value",
        "assessment",
        "metric_source",
        "eval_source_type",
    }
)


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    return [name for name in schema.names if name in _REPEATING]


async def in_thread(function: Callable[[], _T]) -> _T:
    """Run ``function`` in a worker thread (Parquet encoding and I/O release the GIL).

    A thread cannot be stopped: when the caller is cancelled, wait for it to finish before
    re-raising, so no write outlives the export (a resumed export could otherwise race it).
    """
    work = asyncio.ensure_future(asyncio.to_thread(function))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([work])
        if not work.cancelled():
            work.exception()  # retrieved: the cancellation is what the caller sees
        raise


class PartFiles:
    """The file being written in each folder of a dataset, e.g. ``spans/part-00003.parquet``.

    Pages are appended to a hidden temporary file (one row group each); :meth:`publish`
    closes the files and renames them into place. Not thread-safe: call one method at a time
    (the export awaits each call before the next).
    """

    def __init__(self, directory: Path, schemas: Mapping[str, pa.Schema]) -> None:
        self._directory = directory
        self._schemas = dict(schemas)
        self._open: dict[Path, pq.ParquetWriter] = {}

    def write(self, index: int, tables: Mapping[str, pa.Table]) -> None:
        """Append one page's table to each folder's file number ``index``."""
        for folder, table in tables.items():
            path = self._directory / folder / part_name(index)
            writer = self._open.get(path)
            if writer is None:
                schema = self._schemas[folder]
                dictionary = _dictionary_columns(schema)
                writer = pq.ParquetWriter(str(temporary(path)), schema, use_dictionary=dictionary)
                self._open[path] = writer
            writer.write_table(table, row_group_size=max(table.num_rows, 1))

    def publish(self) -> int:
        """Close the files and rename them into place; the number of files published."""
        published = 0
        while self._open:
            path, writer = self._open.popitem()
            writer.close()
            os.replace(temporary(path), path)
            published += 1
        return published

    def discard(self) -> None:
        """Close and delete the files not yet published (an interrupted export)."""
        while self._open:
            path, writer = self._open.popitem()
            with contextlib.suppress(Exception):
                writer.close()
            temporary(path).unlink(missing_ok=True)


def write_file(path: Path, table: pa.Table) -> None:
    """Write ``table`` as one Parquet file, through a temporary file renamed into place."""
    partial = temporary(path)
    try:
        pq.write_table(
            table,
            str(partial),
            row_group_size=max(table.num_rows, 1),
            use_dictionary=_dictionary_columns(table.schema),
        )
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
