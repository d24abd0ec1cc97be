"""An aggregate query using every field."""

from datetime import timedelta

from ddllmobs_async import AggregateQuery, Compute, Experiment, GroupBy, LLMObsClient, TimeRange


async def main(client: LLMObsClient, experiment: Experiment) -> dict[str, float | None]:
    """Average eval score per label of one experiment run."""
    query = AggregateQuery(
        compute=[Compute("score_value", name="avg_score")],  # metric, and its key in results
        indexes=["experiment-evals"],
        query=f"@experiment_id:{experiment.id}",  # search filter; "*" matches everything
        group_by=[GroupBy("label")],  # or just "label"
        limit=100,  # at most 100 buckets
        dataset_version=experiment.dataset_version,  # only this dataset version
        time=TimeRange(start=experiment.created_at, end=experiment.created_at + timedelta(days=1)),
    )
    result = await client.aggregate(query)
    print(f"{result.hit_count} eval events in {len(result.buckets)} buckets")
    return {bucket.by["label"]: bucket.metrics["avg_score"] for bucket in result.buckets}
