"""Fetch many experiments by id."""

from ddllmobs_async import ExperimentLookup, LLMObsClient


async def main(client: LLMObsClient, project_id: str, ids: list[str]) -> ExperimentLookup:
    lookup = await client.get_experiments(ids, project_id=project_id)
    for exp in lookup.experiments:  # in the order of `ids`
        print(exp.id, exp.status)
    if lookup.missing:  # unknown ids, or filtered out (e.g. soft-deleted)
        print("not found:", ", ".join(lookup.missing))
    return lookup
