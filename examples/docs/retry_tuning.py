"""A tuned retry policy with a hook, and logging of retries."""

# --8<-- [start:main]
import logging
from typing import Any

from ddllmobs_async import LLMObsClient, RetryEvent, RetryPolicy


def build_client(events: list[RetryEvent], **connection: Any) -> LLMObsClient:
    policy = RetryPolicy(
        max_retries=5,  # retries after the first attempt (0 disables retrying)
        initial_delay=0.2,  # first backoff step for 5xx, network errors, timeouts
        max_delay=4.0,  # cap of the exponential schedule
        max_rate_limit_wait=30.0,  # a 429 asking for longer raises RateLimitError now
        rate_limit_jitter=0.25,  # up to 0.25 s added to the server's reset
        retry_statuses={429, 500, 502, 503, 504},
        on_retry=events.append,  # called before each retry sleep
    )
    return LLMObsClient(retry_policy=policy, timeout=10.0, **connection)


# --8<-- [end:main]


# --8<-- [start:logging]
def log_retries() -> None:
    # Each retry is logged at INFO on the "ddllmobs_async" logger, e.g.
    # "retrying GET /api/v2/llm-obs/v1/experiments after ServerError (attempt 2 of 6) in 0.13s"
    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("ddllmobs_async").setLevel(logging.INFO)


# --8<-- [end:logging]


async def main(client: LLMObsClient, project_id: str) -> list[str]:
    ids = [exp.id async for exp in client.list_experiments(project_id=project_id)]
    print(f"{len(ids)} experiments; waited {client.total_wait_seconds:.2f}s in retries")
    return ids
