"""Stop early: only the pages you reach are fetched."""

from contextlib import aclosing

from ddllmobs_async import Experiment, ExperimentStatus, LLMObsClient


async def main(client: LLMObsClient, project_id: str) -> Experiment | None:
    """The newest failed experiment, fetching as few pages as possible."""
    experiments = client.list_experiments(project_id=project_id, page_size=20)
    async with aclosing(experiments):  # close the generator as soon as we leave
        async for exp in experiments:
            if exp.status == ExperimentStatus.FAILED:
                return exp
    return None
