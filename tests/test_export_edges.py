"""Export edge cases: one-shot filters, a listing without requests, a crash at the first
checkpoint, positional summaries and the single-file writer's clean-up."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ddllmobs_async as dd
from ddllmobs_async.export import (
    EXPERIMENTS_SCHEMA,
    ExportSummary,
    export_experiment_events,
    export_experiments,
)
from ddllmobs_async.export._writer import write_file
from ddllmobs_async.testing import FakeLLMObs
from tests.conftest import ClientFactory

CHECKPOINT = "_ddllmobs_export.json"


def files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def checkpoint(directory: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((directory / CHECKPOINT).read_text())
    return state


async def some_ids(fake: FakeLLMObs, client: dd.LLMObsClient) -> list[str]:
    page = await anext(aiter(client.list_experiment_pages(project_id=fake.project_id)))
    return [experiment.id for experiment in page.experiments[:3]]


async def test_one_shot_iterators_as_filters_are_read_once(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    ids = await some_ids(fake, client)
    summary = await export_experiments(client, tmp_path, project_id=fake.project_id, ids=iter(ids))
    assert pq.read_table(tmp_path)["id"].to_pylist() == ids and summary.rows == len(ids)
    assert checkpoint(tmp_path)["arguments"]["ids"] == ids
    again = await export_experiments(client, tmp_path, project_id=fake.project_id, ids=ids)
    assert (again.pages, again.files) == (0, 0)  # the same export, complete

    fake.reset_requests()
    parents = tmp_path / "parents"
    await export_experiments(
        client, parents, project_id=fake.project_id, parent_experiment_ids=(p for p in ["p-1"])
    )
    (request,) = fake.requests_to("experiments")
    assert ("filter[parent_experiment_id]", "p-1") in request.query
    assert checkpoint(parents)["arguments"]["parent_experiment_ids"] == ["p-1"]


async def test_ids_matching_nothing_without_a_request_write_what_an_empty_page_writes(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    no_request, empty_page = tmp_path / "no-request", tmp_path / "empty-page"
    async with FakeLLMObs() as fake:  # no experiments: the one page is empty
        client = make_client(fake)
        await export_experiments(client, empty_page, project_id=fake.project_id)
        fake.reset_requests()
        summary = await export_experiments(client, no_request, project_id=fake.project_id, ids=[])
        again = await export_experiments(client, no_request, project_id=fake.project_id, ids=[])
        assert fake.requests == []
    assert (again.pages, again.files) == (0, 0)  # complete: nothing rewritten
    assert (summary.rows, summary.pages, summary.files) == (0, 0, 1)
    assert files(no_request) == files(empty_page) == [CHECKPOINT, "part-00000.parquet"]
    written, expected = checkpoint(no_request), checkpoint(empty_page)
    assert written["complete"] is True and written["cursor"] is None
    assert written["arguments"] == {"project_id": fake.project_id, "ids": []}
    # Only the arguments and the page count (no page was fetched) differ.
    for state in (written, expected):
        del state["arguments"], state["pages"]
    assert written == expected
    part, reference = (pq.ParquetFile(d / "part-00000.parquet") for d in (no_request, empty_page))
    assert part.schema_arrow.equals(EXPERIMENTS_SCHEMA)
    assert part.metadata.num_rows == 0
    assert part.metadata.num_row_groups == reference.metadata.num_row_groups


# A child process that dies (os._exit, like kill -9) while the first checkpoint is renamed
# into place: its temporary file has been written, the rename never happens.
CRASH_AT_FIRST_CHECKPOINT = """
import asyncio, os, sys
from pathlib import Path
import ddllmobs_async as dd
from ddllmobs_async.export import export_experiment_events, export_experiments

url, api_key, app_key, kind, target, argument = sys.argv[1:]
rename = os.replace

def crash_at_the_checkpoint(source, destination):
    if Path(destination).name == "_ddllmobs_export.json":
        os._exit(9)
    rename(source, destination)

os.replace = crash_at_the_checkpoint

async def main():
    async with dd.LLMObsClient(api_key=api_key, app_key=app_key, base_url=url) as client:
        if kind == "events":
            await export_experiment_events(client, argument, target)
        else:
            await export_experiments(client, target, project_id=argument)

asyncio.run(main())
"""


async def crash_at_first_checkpoint(fake: FakeLLMObs, kind: str, target: Path) -> None:
    argument = fake.experiments[0]["id"] if kind == "events" else fake.project_id
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASH_AT_FIRST_CHECKPOINT,
        fake.url, fake.api_key, fake.app_key, kind, str(target), argument,
    )  # fmt: skip
    assert await asyncio.wait_for(child.wait(), 60) == 9


@pytest.mark.parametrize("kind", ["experiments", "events"])
async def test_a_crash_writing_the_first_checkpoint_leaves_a_restartable_directory(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path, kind: str
) -> None:
    await crash_at_first_checkpoint(fake, kind, tmp_path)
    # Nothing but the checkpoint's temporary file: no folder, no part file before it.
    assert files(tmp_path) == [f".{CHECKPOINT}.tmp"]
    if kind == "events":
        summary = await export_experiment_events(client, fake.experiments[0]["id"], tmp_path)
        assert {"spans", "evals", "summary_metrics.parquet"} <= set(files(tmp_path))
    else:
        summary = await export_experiments(client, tmp_path, project_id=fake.project_id)
        assert pq.read_table(tmp_path).num_rows == summary.rows
    assert summary.rows > 0 and summary.resumed_from is None
    assert checkpoint(tmp_path)["complete"] is True
    assert not [name for name in files(tmp_path) if Path(name).name.startswith(".")]


async def test_only_our_own_temporary_file_is_taken_for_a_crashed_start(
    fake: FakeLLMObs, client: dd.LLMObsClient, tmp_path: Path
) -> None:
    (tmp_path / ".notes.tmp").write_text("someone else's")
    with pytest.raises(FileExistsError, match="holds no export checkpoint"):
        await export_experiments(client, tmp_path, project_id=fake.project_id)
    assert files(tmp_path) == [".notes.tmp"]


def test_export_summary_is_built_positionally_in_the_documented_order() -> None:
    summary = ExportSummary(10, 2, 3, 1.5, "cursor-1")
    assert summary == ExportSummary(rows=10, files=2, pages=3, seconds=1.5, resumed_from="cursor-1")
    assert ExportSummary(0, 0, 0, 0.0).resumed_from is None


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    target.mkdir()  # the rename onto a directory fails
    with pytest.raises(IsADirectoryError):
        write_file(target, pa.table({"x": [1, 2]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]
