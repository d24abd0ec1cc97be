"""export_experiments over real HTTP: files, checkpoint, resume after failure or cancellation."""

from __future__ import annotations

import asyncio
import json
import math
import random
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ddllmobs_async as dd
from ddllmobs_async.export import EXPERIMENTS_SCHEMA, ExportSummary, export_experiments
from ddllmobs_async.testing import FakeLLMObs, Fault
from tests.conftest import ClientFactory

CHECKPOINT = "_ddllmobs_export.json"
NO_RETRIES = dd.RetryPolicy(max_retries=0)
PAGE = 7


def parts(directory: Path) -> list[Path]:
    return sorted(directory.glob("part-*.parquet"))


def dataset(directory: Path) -> pa.Table:
    tables = [pq.read_table(path) for path in parts(directory)]
    return pa.concat_tables(tables) if tables else EXPERIMENTS_SCHEMA.empty_table()


def checkpoint(directory: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((directory / CHECKPOINT).read_text())
    return state


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(".*"))


async def expected_ids(fake: FakeLLMObs, client: dd.LLMObsClient) -> list[str]:
    return [e.id async for e in client.list_experiments(project_id=fake.project_id)]


async def export(
    client: dd.LLMObsClient, fake: FakeLLMObs, directory: Path, **options: Any
) -> ExportSummary:
    options.setdefault("pages_per_file", 3)
    return await export_experiments(
        client, directory, project_id=fake.project_id, page_size=PAGE, **options
    )


async def test_one_file_per_pages_per_file_and_a_row_group_per_page(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    ids = await expected_ids(fake, client)
    fake.reset_requests()
    seen: list[ExportSummary] = []
    summary = await export(client, fake, tmp_path, progress=seen.append)
    pages = math.ceil(len(ids) / PAGE)
    assert (summary.rows, summary.pages, summary.files) == (len(ids), pages, math.ceil(pages / 3))
    assert summary.resumed_from is None and summary.seconds > 0
    assert [s.pages for s in seen] == list(range(1, pages + 1))
    assert [s.rows for s in seen][:2] == [PAGE, 2 * PAGE]
    assert [s.files for s in seen][:4] == [0, 0, 1, 1]
    assert len(fake.requests_to("experiments")) == pages

    files = parts(tmp_path)
    assert [p.name for p in files] == [f"part-{i:05d}.parquet" for i in range(len(files))]
    groups = [pq.ParquetFile(p).metadata for p in files]
    assert [m.num_row_groups for m in groups] == [3] * (len(files) - 1) + [
        pages - 3 * (len(files) - 1)
    ]
    sizes = [m.row_group(i).num_rows for m in groups for i in range(m.num_row_groups)]
    assert sizes == [PAGE] * (pages - 1) + [len(ids) - PAGE * (pages - 1)]
    assert dataset(tmp_path)["id"].to_pylist() == ids
    assert pq.read_table(tmp_path).schema.equals(EXPERIMENTS_SCHEMA)  # the directory reads as one
    state = checkpoint(tmp_path)
    assert state["complete"] is True and state["cursor"] is None
    assert state["arguments"] == {"project_id": fake.project_id, "page_size": PAGE}
    assert (state["rows"], state["pages"], state["next_file"]) == (len(ids), pages, len(files))
    assert hidden(tmp_path) == []


@pytest.mark.parametrize("failing_request", [1, 2, 4, 6, 8])  # 8 pages: the last one
async def test_a_mid_stream_500_then_resume_writes_each_row_once(
    fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path, failing_request: int
) -> None:
    client = make_client(fake, retry_policy=NO_RETRIES)
    ids = await expected_ids(fake, client)
    fake.reset_requests()
    before = [Fault.delay(0)] * (failing_request - 1)
    fake.inject(*before, Fault.status(500), endpoint="experiments")
    with pytest.raises(dd.ServerError) as failed:
        await export(client, fake, tmp_path)
    complete_files = (failing_request - 1) // 3
    assert len(parts(tmp_path)) == complete_files
    assert hidden(tmp_path) == []
    if failing_request == 1:  # nothing came: nothing written, not even a checkpoint
        assert not tmp_path.joinpath(CHECKPOINT).exists() and failed.value.cursor is None
        state: dict[str, Any] = {"cursor": None, "rows": 0}
    else:
        state = checkpoint(tmp_path)
        assert state["complete"] is False and state["next_file"] == complete_files
        assert state["rows"] == complete_files * 3 * PAGE
        assert failed.value.cursor is not None

    summary = await export(client, fake, tmp_path)
    assert summary.resumed_from == state["cursor"]
    assert summary.rows == len(ids) - state["rows"]
    assert dataset(tmp_path)["id"].to_pylist() == ids  # every row, each once, in order
    pages = math.ceil(len(ids) / PAGE)
    fetched = [r for r in fake.requests_to("experiments") if r.status == 200]
    assert len(fetched) == pages + (failing_request - 1) - complete_files * 3


async def test_cancelled_exports_resume_to_each_row_once(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    async with FakeLLMObs.seeded(n_experiments=120, latency=0.003) as fake:
        client = make_client(fake)
        ids = await expected_ids(fake, client)
        rng = random.Random(7)
        cancelled = 0
        while True:
            task = asyncio.create_task(export(client, fake, tmp_path, pages_per_file=2))
            # Random points, later and later (a loaded machine still gets to the end).
            await asyncio.sleep(rng.uniform(0, 0.04) + 0.002 * cancelled)
            task.cancel()
            try:
                await task  # complete (maybe by an earlier call cancelled after its last file)
            except asyncio.CancelledError:
                cancelled += 1
                assert hidden(tmp_path) == []  # no temporary file outlives the export
                continue
            break
        assert cancelled >= 3
        assert dataset(tmp_path)["id"].to_pylist() == ids
        assert checkpoint(tmp_path)["complete"] is True


async def test_cancelled_after_a_page_resumes_from_the_last_file(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    ids = await expected_ids(fake, client)
    task: asyncio.Task[ExportSummary] | None = None

    def cancel_after_five(summary: ExportSummary) -> None:
        if summary.pages == 5 and task is not None:
            task.cancel()

    task = asyncio.create_task(export(client, fake, tmp_path, progress=cancel_after_five))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [p.name for p in parts(tmp_path)] == ["part-00000.parquet"]
    assert checkpoint(tmp_path)["rows"] == 3 * PAGE
    summary = await export(client, fake, tmp_path)
    assert summary.pages == math.ceil(len(ids) / PAGE) - 3
    assert dataset(tmp_path)["id"].to_pylist() == ids


async def test_leftovers_of_a_crash_are_replaced(
    fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(fake, retry_policy=NO_RETRIES)
    ids = await expected_ids(fake, client)
    fake.inject(*[Fault.delay(0)] * 4, Fault.status(500), endpoint="experiments")
    with pytest.raises(dd.ServerError):
        await export(client, fake, tmp_path)
    # A crash (kill -9) between renaming a file and saving the checkpoint, and mid-write.
    (tmp_path / "part-00001.parquet").write_bytes(b"renamed, not checkpointed")
    (tmp_path / ".part-00002.parquet.tmp").write_bytes(b"half a file")
    await export(client, fake, tmp_path)
    assert dataset(tmp_path)["id"].to_pylist() == ids
    assert hidden(tmp_path) == []


async def test_an_empty_export_writes_a_valid_empty_dataset(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    async with FakeLLMObs() as fake:
        summary = await export(make_client(fake), fake, tmp_path)
    assert (summary.rows, summary.pages, summary.files) == (0, 1, 1)
    assert [p.name for p in parts(tmp_path)] == ["part-00000.parquet"]
    table = pq.read_table(tmp_path)
    assert table.num_rows == 0 and table.schema.equals(EXPERIMENTS_SCHEMA)
    counted = duckdb.execute(
        f"select count(*) from read_parquet('{tmp_path}/*.parquet')"
    ).fetchall()
    assert counted == [(0,)]
    assert checkpoint(tmp_path)["complete"] is True


async def test_a_complete_export_is_not_repeated(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    await export(client, fake, tmp_path)
    written = {p.name: p.stat().st_mtime_ns for p in parts(tmp_path)}
    fake.reset_requests()
    summary = await export(client, fake, tmp_path)
    assert (summary.rows, summary.pages, summary.files, summary.resumed_from) == (0, 0, 0, None)
    assert fake.requests == []
    assert {p.name: p.stat().st_mtime_ns for p in parts(tmp_path)} == written


async def test_a_foreign_directory_is_refused_unless_overwrite(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    fake.reset_requests()
    with pytest.raises(FileExistsError, match=r"holds no export checkpoint.*overwrite=True"):
        await export(client, fake, tmp_path)
    assert fake.requests == [] and (tmp_path / "notes.txt").read_text() == "mine"
    summary = await export(client, fake, tmp_path, overwrite=True)
    assert summary.rows > 0 and not (tmp_path / "notes.txt").exists()
    file = tmp_path / "notes.txt"
    file.write_text("a file, not a directory")
    with pytest.raises(NotADirectoryError):
        await export_experiments(client, file, project_id=fake.project_id)


async def test_a_checkpoint_of_other_arguments_is_refused_unless_overwrite(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    await export(client, fake, tmp_path)
    fake.reset_requests()
    for other in ({"page_size": 50}, {"page_size": PAGE, "name": "x"}):
        with pytest.raises(FileExistsError, match=r"export of other arguments.*overwrite=True"):
            await export_experiments(client, tmp_path, project_id=fake.project_id, **other)
    assert fake.requests == []
    summary = await export_experiments(
        client, tmp_path, project_id=fake.project_id, page_size=50, overwrite=True
    )
    assert checkpoint(tmp_path)["arguments"] == {"project_id": fake.project_id, "page_size": 50}
    assert len(parts(tmp_path)) == summary.files == 1
    assert dataset(tmp_path)["id"].to_pylist() == await expected_ids(fake, client)


async def test_filters_and_arguments_are_checked_before_anything_is_written(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    with pytest.raises(TypeError, match="does not take cursor"):
        await export_experiments(client, target, project_id=fake.project_id, cursor="c")
    with pytest.raises(TypeError, match="does not take max_items"):
        await export_experiments(client, target, project_id=fake.project_id, max_items=3)
    with pytest.raises(ValueError, match="pages_per_file must be at least 1"):
        await export_experiments(client, target, project_id=fake.project_id, pages_per_file=0)
    with pytest.raises(ValueError, match="page_size"):
        await export_experiments(client, target, project_id=fake.project_id, page_size=0)
    with pytest.raises(ValueError, match="project_id or dataset_id"):
        await export_experiments(client, target)
    assert not target.exists()


async def test_filters_are_recorded_as_json_and_match_on_resume(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    filters: dict[str, Any] = {"metadata": {"branch": "main"}, "ids": ("a", "b")}
    await export_experiments(client, tmp_path, project_id=fake.project_id, **filters)
    assert checkpoint(tmp_path)["arguments"] == {
        "project_id": fake.project_id, "metadata": {"branch": "main"}, "ids": ["a", "b"],
    }  # fmt: skip
    summary = await export_experiments(
        client, tmp_path, project_id=fake.project_id, metadata={"branch": "main"}, ids=["a", "b"]
    )
    assert summary.pages == 0  # the same export, already complete


async def test_a_large_page_is_converted_in_slices_and_written_as_one_row_group(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    async with FakeLLMObs.seeded(n_experiments=3000) as fake:
        client = make_client(fake)
        ids = await expected_ids(fake, client)
        await export_experiments(client, tmp_path, project_id=fake.project_id, page_size=2500)
    metadata = pq.ParquetFile(tmp_path / "part-00000.parquet").metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [
        2500,
        len(ids) - 2500,
    ]
    assert dataset(tmp_path)["id"].to_pylist() == ids


async def test_filters_left_at_their_defaults_are_the_same_export(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    await export_experiments(client, tmp_path, project_id=fake.project_id)
    assert checkpoint(tmp_path)["arguments"] == {"project_id": fake.project_id}
    fake.reset_requests()
    summary = await export_experiments(
        client, tmp_path, project_id=fake.project_id, dataset_id=None, page_size=None,
        include_user_data=False, prefetch=2,
    )  # fmt: skip
    assert summary.pages == 0 and fake.requests == []  # recognised as the complete export
    with pytest.raises(FileExistsError):
        await export_experiments(client, tmp_path, project_id=fake.project_id, is_deleted=True)


async def test_only_columns_whose_values_repeat_are_dictionary_encoded(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    await export(client, fake, tmp_path)
    group = pq.ParquetFile(parts(tmp_path)[0]).metadata.row_group(0)
    encodings = {
        group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)
    }
    dictionary = {name for name, used in encodings.items() if "RLE_DICTIONARY" in used}
    assert {"status", "project_id", "dataset_name"} <= dictionary
    assert not dictionary & {"id", "config", "metadata", "aggregate_data", "created_at"}
