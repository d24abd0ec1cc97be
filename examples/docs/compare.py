"""Compare runs against their baseline."""

from ddllmobs_async import ExperimentComparison, LLMObsClient


async def main(client: LLMObsClient, project_id: str) -> ExperimentComparison:
    # Runs of the "summarizer" experiment that were run against a baseline.
    runs = [
        exp
        async for exp in client.list_experiments(project_id=project_id, experiment="summarizer")
        if exp.parent_experiment_id is not None
    ]
    baseline_id = runs[0].parent_experiment_id
    assert baseline_id is not None
    candidates = [exp.id for exp in runs if exp.parent_experiment_id == baseline_id]

    # Average score_value per eval label, for each run and for the baseline.
    comparison = await client.compare_experiments(candidates, baseline_id=baseline_id)
    for experiment_id, deltas in comparison.deltas.items():
        for label, delta in deltas.items():
            shown = "n/a" if delta is None else f"{delta:+.3f}"
            print(f"{experiment_id} {label}: {shown}")
    return comparison
