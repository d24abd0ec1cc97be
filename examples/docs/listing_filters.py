"""Filter experiments server-side."""

# --8<-- [start:main]
from ddllmobs_async import Experiment, LLMObsClient


async def main(client: LLMObsClient, project_id: str) -> list[Experiment]:
    found = []
    async for exp in client.list_experiments(
        project_id=project_id,
        experiment="summarizer",  # every run of one logical experiment
        metadata={"branch": "main"},  # metadata contains all these pairs
        include_user_data=True,  # fill exp.author
        include_dataset_names=True,  # fill exp.dataset_name
    ):
        author = exp.author.name if exp.author else "?"
        print(exp.name, exp.dataset_name, author)
        found.append(exp)
    return found


# --8<-- [end:main]


# --8<-- [start:more]
async def runs_against(client: LLMObsClient, project_id: str, baseline_id: str) -> list[str]:
    # Runs whose parent (baseline) is baseline_id; pass several ids to match any of them.
    stream = client.list_experiments(project_id=project_id, parent_experiment_ids=[baseline_id])
    return [exp.id async for exp in stream]


async def deleted(client: LLMObsClient, project_id: str) -> list[str]:
    # Soft-deleted experiments only (the default, is_deleted=None, lists live ones).
    stream = client.list_experiments(project_id=project_id, is_deleted=True)
    return [exp.id async for exp in stream]


# --8<-- [end:more]
