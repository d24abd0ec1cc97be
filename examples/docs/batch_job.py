"""A resumable batch job: score every experiment of a project, checkpointing after each page."""

import json
import os
from pathlib import Path
from typing import Any

from ddllmobs_async import AggregateQuery, AggregateResult, Compute, LLMObsClient


def load_state(checkpoint: Path) -> dict[str, Any]:
    if checkpoint.exists():
        state: dict[str, Any] = json.loads(checkpoint.read_text())
        return state
    return {"cursor": None, "done": False, "scores": {}, "failed": []}


def save_state(checkpoint: Path, state: dict[str, Any]) -> None:
    # Write-then-rename, so a crash never leaves a half-written checkpoint.
    partial = checkpoint.with_suffix(".tmp")
    partial.write_text(json.dumps(state))
    os.replace(partial, checkpoint)


def score_query(experiment_id: str) -> AggregateQuery:
    return AggregateQuery(
        [Compute("score_value", name="avg")],
        ["experiment-evals"],
        f"@experiment_id:{experiment_id}",
        group_by=["label"],
    )


async def main(
    client: LLMObsClient, project_id: str, checkpoint: Path, *, concurrency: int = 8
) -> dict[str, Any]:
    state = load_state(checkpoint)
    if state["done"]:
        return state
    pages = client.list_experiment_pages(
        project_id=project_id, page_size=20, cursor=state["cursor"]
    )
    async for page in pages:
        ids = [exp.id for exp in page.experiments]
        # At most `concurrency` aggregates of this page in flight; results in input order.
        results = await client.aggregate_many(
            [score_query(i) for i in ids], concurrency=concurrency, return_exceptions=True
        )
        for experiment_id, result in zip(ids, results, strict=True):
            if isinstance(result, AggregateResult):
                state["scores"][experiment_id] = {
                    bucket.by["label"]: bucket.metrics["avg"] for bucket in result.buckets
                }
            else:  # an LLMObsError that outlasted the retries: note it, carry on
                state["failed"].append(experiment_id)
        # The page is fully handled: only now move the checkpoint past it.
        state["cursor"] = page.next_cursor
        save_state(checkpoint, state)
    state["done"] = True
    save_state(checkpoint, state)
    return state
