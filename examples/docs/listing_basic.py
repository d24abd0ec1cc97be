"""Stream every experiment of a project, newest first."""

# --8<-- [start:main]
from ddllmobs_async import LLMObsClient


async def main(client: LLMObsClient, project_id: str) -> list[str]:
    ids = []
    async for exp in client.list_experiments(project_id=project_id):
        ids.append(exp.id)
    return ids


# --8<-- [end:main]


# --8<-- [start:max_items]
async def newest(client: LLMObsClient, project_id: str, n: int) -> list[str]:
    # max_items stops the stream (and the requests) after n experiments.
    return [exp.name async for exp in client.list_experiments(project_id=project_id, max_items=n)]


# --8<-- [end:max_items]
