"""Many concurrent requests through one client: bounded, and paced by the rate limit."""

import asyncio

from ddllmobs_async import AggregateQuery, AggregateResult, LLMObsClient


async def main(client: LLMObsClient, experiment_ids: list[str]) -> list[AggregateResult]:
    # Start them all: the client keeps at most max_concurrency in flight and holds
    # requests back when the rate-limit window is spent.
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(
                client.aggregate(
                    AggregateQuery(["score_value"], ["experiment-evals"], f"@experiment_id:{i}")
                )
            )
            for i in experiment_ids
        ]

    info = client.rate_limit  # from the latest response's X-RateLimit-* headers
    if info is not None:
        print(f"{info.name}: {info.remaining} of {info.limit} left, resets in {info.reset}s")
    print(f"waited {client.total_wait_seconds:.2f}s for rate limits and retries")
    return [task.result() for task in tasks]
