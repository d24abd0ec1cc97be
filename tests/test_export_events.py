"""export_experiment_events over real HTTP: spans/, evals/ and the summary metrics, resumable."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ddllmobs_async as dd
import ddllmobs_async.export
from ddllmobs_async.export import (
    EVAL_METRICS_SCHEMA,
    SPANS_SCHEMA,
    ExportSummary,
    eval_metrics_table,
    export_experiment_events,
    spans_table,
)
from ddllmobs_async.testing import FakeLLMObs, Fault
from tests.conftest import ClientFactory

NO_RETRIES = dd.RetryPolicy(max_retries=0)
PAGE = 3


def sub_dataset(directory: Path, schema: pa.Schema) -> pa.Table:
    tables = [pq.read_table(path) for path in sorted(directory.glob("part-*.parquet"))]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(".*"))


def many_spans(fake: FakeLLMObs, experiment_id: str, copies: int) -> list[dict[str, Any]]:
    """The fake's realistic spans of one experiment, repeated under new ids."""
    spans, _ = fake.experiment_events(experiment_id)
    out = []
    for n in range(copies):
        for span in copy.deepcopy(spans):
            span["id"] = span["span_id"] = f"{span['span_id']}-{n}"
            for metric in span.get("eval_metrics", []):
                metric["span_id"] = span["span_id"]
            out.append(span)
    return out


@pytest.fixture
async def results_fake() -> Any:
    async with FakeLLMObs.seeded(n_experiments=3, summary_pages="first") as fake:
        experiment_id = fake.experiments[0]["id"]
        _, summary = fake.experiment_events(experiment_id)
        fake.set_experiment_events(experiment_id, many_spans(fake, experiment_id, 3), summary)
        yield fake


async def export(
    client: dd.LLMObsClient, experiment_id: str, directory: Path, **options: Any
) -> ExportSummary:
    return await export_experiment_events(
        client, experiment_id, directory, page_size=PAGE, pages_per_file=2, **options
    )


async def check_dataset(client: dd.LLMObsClient, experiment_id: str, directory: Path) -> None:
    results = await client.get_experiment_results(experiment_id)
    spans = sub_dataset(directory / "spans", SPANS_SCHEMA)
    evals = sub_dataset(directory / "evals", EVAL_METRICS_SCHEMA)
    assert spans.equals(spans_table(results.spans))  # every span once, in order
    assert evals.equals(eval_metrics_table(results.spans))
    summary = pq.read_table(directory / "summary_metrics.parquet")
    assert summary.schema.equals(EVAL_METRICS_SCHEMA)
    assert summary["id"].to_pylist() == [m.id for m in results.summary_metrics]
    assert summary["label"].to_pylist() == [m.label for m in results.summary_metrics]
    assert json.loads((directory / "_ddllmobs_export.json").read_text())["complete"] is True
    assert hidden(directory) == []
    assert not (directory / "_summary_metrics.partial").exists()


async def test_events_export_writes_spans_evals_and_summary(
    results_fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(results_fake)
    experiment_id = results_fake.experiments[0]["id"]
    summary = await export(client, experiment_id, tmp_path)
    n_spans = len(results_fake.experiment_events(experiment_id)[0])
    pages = -(-n_spans // PAGE)
    assert (summary.rows, summary.pages) == (n_spans, pages)
    assert summary.files == 2 * -(-pages // 2) + 1  # spans + evals per file, then the summary
    assert len(list((tmp_path / "spans").glob("part-*.parquet"))) == -(-pages // 2)
    metadata = pq.ParquetFile(tmp_path / "spans" / "part-00000.parquet").metadata
    assert metadata.num_row_groups == 2 and metadata.row_group(0).num_rows == PAGE
    await check_dataset(client, experiment_id, tmp_path)
    assert pq.read_table(tmp_path / "summary_metrics.parquet").num_rows > 0


@pytest.mark.parametrize("failing_request", [2, 3, 5])
async def test_events_export_resumes_after_a_500_with_the_first_page_summary(
    results_fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path, failing_request: int
) -> None:
    # Summary metrics come on the first page only: a resumed export must still write them.
    client = make_client(results_fake, retry_policy=NO_RETRIES)
    experiment_id = results_fake.experiments[0]["id"]
    results_fake.inject(
        *[Fault.delay(0)] * (failing_request - 1), Fault.status(500), endpoint="events"
    )
    with pytest.raises(dd.ServerError):
        await export(client, experiment_id, tmp_path)
    assert not (tmp_path / "summary_metrics.parquet").exists()
    summary = await export(client, experiment_id, tmp_path)
    # Failing within the first file resumes from the start; later, from the checkpoint.
    assert (summary.resumed_from is None) == (failing_request <= 2)
    await check_dataset(client, experiment_id, tmp_path)


async def test_events_export_cancelled_then_resumed(
    results_fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(results_fake)
    experiment_id = results_fake.experiments[0]["id"]
    task: asyncio.Task[ExportSummary] | None = None

    def cancel_after_three(summary: ExportSummary) -> None:
        if summary.pages == 3 and task is not None:
            task.cancel()

    task = asyncio.create_task(export(client, experiment_id, tmp_path, progress=cancel_after_three))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [p.name for p in (tmp_path / "spans").glob("part-*")] == ["part-00000.parquet"]
    assert (tmp_path / "_summary_metrics.partial").exists()
    summary = await export(client, experiment_id, tmp_path)
    assert summary.rows == len(results_fake.experiment_events(experiment_id)[0]) - 2 * PAGE
    await check_dataset(client, experiment_id, tmp_path)


async def test_an_experiment_without_events_writes_valid_empty_datasets(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    async with FakeLLMObs() as fake:
        fake.set_experiment_events("empty", [], [])
        summary = await export(make_client(fake), "empty", tmp_path)
    assert (summary.rows, summary.pages, summary.files) == (0, 1, 3)
    for path, schema in (
        (tmp_path / "spans", SPANS_SCHEMA),
        (tmp_path / "evals", EVAL_METRICS_SCHEMA),
        (tmp_path / "summary_metrics.parquet", EVAL_METRICS_SCHEMA),
    ):
        table = pq.read_table(path)
        assert table.num_rows == 0 and table.schema.equals(schema)


async def test_an_unknown_experiment_writes_nothing(
    results_fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(results_fake)
    target = tmp_path / "out"
    with pytest.raises(dd.NotFoundError):
        await export_experiment_events(client, "no-such-experiment", target)
    assert not target.exists()
    with pytest.raises(ValueError, match="experiment_id"):
        await export_experiment_events(client, "a/b", target)
    assert not target.exists()


async def test_a_checkpoint_of_another_export_is_refused(
    results_fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path
) -> None:
    client = make_client(results_fake)
    experiment_id = results_fake.experiments[0]["id"]
    await export(client, experiment_id, tmp_path)
    results_fake.reset_requests()
    with pytest.raises(FileExistsError, match="other arguments"):
        await export(client, "another-experiment", tmp_path)
    with pytest.raises(FileExistsError, match="other arguments"):
        await dd.export.export_experiments(client, tmp_path, project_id=results_fake.project_id)
    assert results_fake.requests == []
