"""A resumable batch job: every experiment of a project and its average eval score.

It walks the project page by page with ``list_experiment_pages``, runs one aggregate per
experiment of the page with bounded concurrency (``aggregate_many``), and after each page
writes a JSON checkpoint holding the next cursor and the scores so far. Run it again after
an interruption and it resumes from the checkpoint: finished pages are neither fetched nor
aggregated again.

Run it::

    export DD_API_KEY=... DD_APP_KEY=...        # or the lines `ddllmobs fake-server` prints
    export DD_LLMOBS_BASE_URL=http://127.0.0.1:PORT  # optional: talk to the fake server
    python examples/batch_job.py PROJECT_ID [--checkpoint scores.json] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from contextlib import aclosing
from pathlib import Path
from typing import Any

from ddllmobs_async import (
    AggregateQuery,
    Compute,
    Experiment,
    LLMObsClient,
    LLMObsError,
)

Scores = dict[str, float | None]


AVERAGE_SCORE = Compute("score_value", name="avg_score")


def score_query(experiment_id: str) -> AggregateQuery:
    """The average ``score_value`` of one experiment's eval events."""
    return AggregateQuery(
        [AVERAGE_SCORE],
        ["experiment-evals"],
        f"@experiment_id:{experiment_id}",
    )


def load_checkpoint(path: Path, project_id: str) -> dict[str, Any]:
    """The saved state of an earlier run of this project, or a fresh one."""
    if not path.exists():
        return {"project_id": project_id, "cursor": None, "done": False, "scores": {}}
    state: dict[str, Any] = json.loads(path.read_text())
    if state.get("project_id") != project_id:
        raise ValueError(f"{path} is the checkpoint of project {state.get('project_id')!r}")
    return state


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically: a crash mid-write leaves the previous checkpoint intact."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(state, indent=1))
    os.replace(partial, path)


async def score_page(
    client: LLMObsClient, experiments: list[Experiment], concurrency: int
) -> Scores:
    """Average score of each experiment, at most ``concurrency`` aggregates at once."""
    results = await client.aggregate_many(
        [score_query(experiment.id) for experiment in experiments], concurrency=concurrency
    )
    scores: Scores = {}
    for experiment, result in zip(experiments, results, strict=True):  # failures raise
        value = result.buckets[0].value(AVERAGE_SCORE) if result.buckets else None
        scores[experiment.id] = None if value is None else float(value)
    return scores


async def run(
    client: LLMObsClient,
    project_id: str,
    checkpoint_path: str | os.PathLike[str],
    concurrency: int = 8,
    *,
    page_size: int | None = 100,
) -> Scores:
    """Average eval score of every experiment of ``project_id``, resuming from a checkpoint.

    Raises:
        LLMObsError: The API failed; everything up to the last finished page is saved, so
            calling ``run`` again continues from there.
    """
    path = Path(checkpoint_path)
    state = load_checkpoint(path, project_id)
    scores: Scores = state["scores"]
    if state["done"]:
        return scores
    pages = client.list_experiment_pages(
        project_id=project_id, page_size=page_size, cursor=state["cursor"]
    )
    async with aclosing(pages):
        async for page in pages:
            todo = [e for e in page.experiments if e.id not in scores]
            scores.update(await score_page(client, todo, concurrency))
            state.update(cursor=page.next_cursor, done=page.next_cursor is None)
            save_checkpoint(path, state)
    state["done"] = True
    save_checkpoint(path, state)
    return scores


async def _main(args: argparse.Namespace) -> int:
    async with LLMObsClient() as client:
        try:
            scores = await run(client, args.project_id, args.checkpoint, args.concurrency)
        except LLMObsError as error:
            print(f"interrupted: {error}; run again to resume from {args.checkpoint}")
            return 1
    print(json.dumps(scores, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``batch_job.py PROJECT_ID [--checkpoint F] [--concurrency N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("project_id", nargs="?", default=os.environ.get("DD_LLMOBS_PROJECT_ID"))
    parser.add_argument("--checkpoint", default="llmobs-scores.checkpoint.json")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    if not args.project_id:
        parser.error("PROJECT_ID is required (or set DD_LLMOBS_PROJECT_ID)")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
