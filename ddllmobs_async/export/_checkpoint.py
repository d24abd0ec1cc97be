"""The export directory: its checkpoint, what counts as ours, and starting afresh.

The checkpoint is written (to a temporary file, then renamed) after every complete file, so
it always names files that exist in full; anything an interrupted export left behind it
(temporary files, a file renamed just before the checkpoint was) is removed on resume.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

#: Name of the checkpoint file (Spark, Hive and Dask skip files starting with ``_``).
CHECKPOINT_NAME = "_ddllmobs_export.json"
#: Layout version written into the checkpoint.
FORMAT = 1
_PART = re.compile(r"^part-(\d{5,})\.parquet$")
TEMPORARY_SUFFIX = ".tmp"


@attrs.frozen(kw_only=True)
class Checkpoint:
    """Where an export stands: its arguments and the cursor after the last complete file."""

    kind: str
    arguments: dict[str, Any]
    cursor: str | None = None
    next_file: int = 0
    pages: int = 0
    rows: int = 0
    complete: bool = False

    def advanced(self, *, cursor: str | None, pages: int, rows: int) -> Checkpoint:
        """The checkpoint after one more complete file."""
        return attrs.evolve(
            self,
            cursor=cursor,
            next_file=self.next_file + 1,
            pages=self.pages + pages,
            rows=self.rows + rows,
            complete=cursor is None,
        )


def part_name(index: int) -> str:
    """File name of the ``index``-th file of a (sub-)dataset."""
    return f"part-{index:05d}.parquet"


def temporary(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place (hidden from readers)."""
    return path.with_name(f".{path.name}{TEMPORARY_SUFFIX}")


def json_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``arguments`` as they read back from JSON (iterables as lists, mappings as dicts)."""
    return dict(json.loads(json.dumps(_plain(dict(arguments)), sort_keys=True)))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [_plain(item) for item in value]
    return value


def read_checkpoint(directory: Path) -> Checkpoint | None:
    """The checkpoint in ``directory``, or ``None`` if it has none."""
    path = directory / CHECKPOINT_NAME
    if not path.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise FileExistsError(f"{path} is not a checkpoint this version can resume")
    state.pop("format")
    return Checkpoint(**state)


def write_checkpoint(directory: Path, checkpoint: Checkpoint) -> None:
    """Save ``checkpoint`` atomically (write a temporary file, then rename it)."""
    path = directory / CHECKPOINT_NAME
    text = json.dumps({"format": FORMAT, **attrs.asdict(checkpoint)}, indent=2, sort_keys=True)
    replace_atomically(path, text.encode())


def replace_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` so a reader sees the old file or the new, never half."""
    partial = temporary(path)
    try:
        partial.write_bytes(content)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def resumable(
    directory: Path, kind: str, arguments: dict[str, Any], *, overwrite: bool
) -> Checkpoint | None:
    """The checkpoint to continue from (``None``: start afresh); reads, never writes.

    Raises:
        FileExistsError: ``directory`` holds an export of other arguments, or other files
            and no checkpoint (unless ``overwrite``).
        NotADirectoryError: ``directory`` is a file.
    """
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"export directory {directory} is a file")
    if overwrite or not directory.exists():
        return None
    checkpoint = read_checkpoint(directory)
    if checkpoint is None:
        # A crash while the first checkpoint was written leaves only its temporary file.
        unfinished = temporary(directory / CHECKPOINT_NAME).name
        if any(path.name != unfinished for path in directory.iterdir()):
            raise FileExistsError(
                f"{directory} is not empty and holds no export checkpoint ({CHECKPOINT_NAME}); "
                "export into a new or empty directory, or pass overwrite=True to replace it"
            )
        return None
    if checkpoint.kind != kind or checkpoint.arguments != arguments:
        raise FileExistsError(
            f"{directory} holds an export of other arguments ({checkpoint.kind} "
            f"{checkpoint.arguments}, not {kind} {arguments}); pass overwrite=True to start "
            "afresh, or use another directory"
        )
    return checkpoint


def start_afresh(directory: Path, folders: Iterable[str], checkpoint: Checkpoint) -> None:
    """Empty ``directory`` (everything in it is deleted) and write the first checkpoint.

    The checkpoint lands before any folder is made: a crash in between leaves a directory
    that holds an export checkpoint, or nothing but the checkpoint's temporary file, and
    either is resumed or started afresh by the next call.
    """
    if directory.exists():
        for path in directory.iterdir():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    write_checkpoint(directory, checkpoint)
    for folder in folders:
        (directory / folder).mkdir(parents=True, exist_ok=True)


def remove_leftovers(directory: Path, folders: Iterable[str], next_file: int) -> None:
    """Delete what an interrupted export left past its checkpoint: files it will rewrite."""
    for folder in {directory, *(directory / name for name in folders)}:
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            match = _PART.match(path.name)
            leftover = match is not None and int(match[1]) >= next_file
            if leftover or (path.name.startswith(".") and path.name.endswith(TEMPORARY_SUFFIX)):
                path.unlink()
