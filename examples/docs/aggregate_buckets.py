"""Reading buckets: group-by values in `by`, computed metrics in `metrics`."""

# --8<-- [start:main]
from ddllmobs_async import AggregateQuery, LLMObsClient


async def main(client: LLMObsClient, experiment_id: str) -> list[tuple[str, str, float | None]]:
    result = await client.aggregate(
        AggregateQuery(
            compute=["score_value"],  # a plain metric name: no alias
            indexes=["experiment-evals"],
            query=f"@experiment_id:{experiment_id}",
            group_by=["label", "span_id"],
        )
    )
    rows = []
    for bucket in result.buckets:
        # by: {"label": ..., "span_id": ...}; metrics are keyed by alias, else metric name.
        score = bucket.metrics["score_value"]  # None when no event in the bucket had a value
        rows.append((bucket.by["label"], bucket.by["span_id"], score))
    return rows


# --8<-- [end:main]


# --8<-- [start:overall]
async def overall(client: LLMObsClient, experiment_id: str) -> float | None:
    # Without group_by the result has a single bucket whose `by` is {}.
    query = AggregateQuery(["score_value"], ["experiment-evals"], f"@experiment_id:{experiment_id}")
    result = await client.aggregate(query)
    (bucket,) = result.buckets
    score: float | None = bucket.metrics["score_value"]
    return score


# --8<-- [end:overall]
