"""Quickstart: list a project's newest experiments and average the newest one's eval scores."""

import asyncio

from ddllmobs_async import AggregateQuery, Compute, LLMObsClient


async def main(client: LLMObsClient, project_id: str) -> dict[str, float | None]:
    # The ten newest experiments of the project (pages are fetched as you iterate).
    latest = [exp async for exp in client.list_experiments(project_id=project_id, max_items=10)]
    for exp in latest:
        print(f"{exp.created_at:%Y-%m-%d %H:%M}  {exp.status!s:<11}  {exp.name}")

    # Average eval score of the newest run, one bucket per eval label.
    result = await client.aggregate(
        AggregateQuery(
            compute=[Compute("score_value", name="avg_score")],
            indexes=["experiment-evals"],
            query=f"@experiment_id:{latest[0].id}",
            group_by=["label"],
        )
    )
    return {bucket.by["label"]: bucket.metrics["avg_score"] for bucket in result.buckets}


async def run() -> None:
    # Keys come from DD_API_KEY and DD_APP_KEY, the site from DD_SITE.
    async with LLMObsClient() as client:
        print(await main(client, project_id="a33671aa-24fd-4dcd-9b33-a8ec7dde7751"))


if __name__ == "__main__":
    asyncio.run(run())
