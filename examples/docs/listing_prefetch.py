"""Read ahead: the next page downloads while this one is being written."""

from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing

from ddllmobs_async import Experiment, LLMObsClient


async def main(
    client: LLMObsClient,
    project_id: str,
    write_batch: Callable[[Sequence[Experiment]], Awaitable[None]],
) -> int:
    """Copy every experiment to a slow sink (a database, a file upload) a page at a time."""
    written = 0
    pages = client.list_experiment_pages(project_id=project_id, page_size=20, prefetch=1)
    async with aclosing(pages):
        async for page in pages:
            await write_batch(page.experiments)  # meanwhile, the next page is on its way
            written += len(page.experiments)
    return written
