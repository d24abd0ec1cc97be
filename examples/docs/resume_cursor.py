"""Resume an interrupted listing exactly where it failed."""

import asyncio

from ddllmobs_async import LLMObsClient, LLMObsError


async def main(
    client: LLMObsClient, project_id: str, *, pause: float = 5.0, max_resumes: int = 5
) -> list[str]:
    processed: list[str] = []
    cursor: str | None = None  # None: start from the newest experiment
    resumes = 0
    while True:
        try:
            async for page in client.list_experiment_pages(
                project_id=project_id, page_size=10, cursor=cursor
            ):
                processed.extend(exp.id for exp in page.experiments)
            return processed
        except LLMObsError as err:
            if resumes == max_resumes:
                raise
            resumes += 1
            # err.cursor is the cursor of the page that failed (None for the first
            # page): every page before it was fully processed, none after it.
            cursor = err.cursor
            print(f"{err}; resuming from {cursor!r} in {pause}s")
            await asyncio.sleep(pause)
