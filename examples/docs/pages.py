"""Iterate page by page."""

from ddllmobs_async import ExperimentPage, LLMObsClient


async def main(client: LLMObsClient, project_id: str) -> list[ExperimentPage]:
    pages = []
    async for page in client.list_experiment_pages(project_id=project_id, page_size=25):
        print(f"{len(page.experiments)} experiments; fetched with {page.cursor!r}")
        pages.append(page)
        # page.next_cursor is None on the last page; store it to resume later.
    return pages
