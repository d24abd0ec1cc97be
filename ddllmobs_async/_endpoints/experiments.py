"""``GET /api/v2/llm-obs/v1/experiments``: listing experiments, and fetching many by id."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Mapping
from contextlib import aclosing
from typing import Any

import attrs

from ddllmobs_async import _batch
from ddllmobs_async._constants import EXPERIMENTS_PATH
from ddllmobs_async._converters.experiments import structure_experiment_page
from ddllmobs_async._endpoints._base import Endpoints
from ddllmobs_async._pagination import PageShape, iter_items
from ddllmobs_async._query import check_paging, experiment_filters
from ddllmobs_async.models import Experiment, ExperimentLookup, ExperimentPage

EXPERIMENT_PAGES: PageShape[ExperimentPage, Experiment] = PageShape(
    items=lambda page: page.experiments,
    with_items=lambda page, items: attrs.evolve(page, experiments=items),
    key=lambda experiment: experiment.id,
)


class ExperimentEndpoints(Endpoints):
    """List experiments (lazily, page by page) and look many up by id."""

    def list_experiments(
        self,
        *,
        project_id: str | None = None,
        dataset_id: str | None = None,
        ids: Iterable[str] | None = None,
        name: str | None = None,
        experiment: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        parent_experiment_ids: Iterable[str] | None = None,
        is_deleted: bool | None = None,
        include_user_data: bool = False,
        include_dataset_names: bool = False,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
        prefetch: int = 0,
    ) -> AsyncGenerator[Experiment]:
        """Stream experiments, newest first, fetching pages lazily as you iterate.

        Page N+1 is requested only when you reach the end of page N (unless ``prefetch``
        says otherwise); ``break`` or ``aclose()`` stops fetching. Arguments are validated
        before the first request. An experiment the page before already had is not
        yielded again (pages overlap when the list moves under the cursor).

        Args:
            project_id: Experiments of this project (this or ``dataset_id`` is required).
            dataset_id: Experiments run on this dataset.
            ids: Only these experiment ids (sent as repeated ``filter[id]``); an empty list
                yields nothing, without a request.
            name: Exact run name.
            experiment: Logical experiment name shared by all its runs.
            metadata: Experiments whose metadata contains all these key/value pairs.
            parent_experiment_ids: Experiments run against any of these baselines (an empty
                list yields nothing, without a request).
            is_deleted: ``True`` for soft-deleted experiments only.
            include_user_data: Fill :attr:`Experiment.author`.
            include_dataset_names: Fill :attr:`Experiment.dataset_name`.
            page_size: Items per request, 1..5000 (server default 5000).
            cursor: Resume from this cursor (``ExperimentPage.next_cursor`` or
                ``LLMObsError.cursor``).
            max_items: Stop after this many experiments.
            prefetch: Pages to fetch in the background while you work through the current
                one (0, the default, fetches only on demand). ``prefetch=1`` overlaps the
                next request with your processing; each page held costs its memory.

        Raises:
            LLMObsError: Any failure after retries; its ``cursor`` says where to resume.
        """
        pages = self.list_experiment_pages(
            project_id=project_id,
            dataset_id=dataset_id,
            ids=ids,
            name=name,
            experiment=experiment,
            metadata=metadata,
            parent_experiment_ids=parent_experiment_ids,
            is_deleted=is_deleted,
            include_user_data=include_user_data,
            include_dataset_names=include_dataset_names,
            page_size=page_size,
            cursor=cursor,
            max_items=max_items,
            prefetch=prefetch,
        )
        return iter_items(pages, EXPERIMENT_PAGES)

    async def list_experiment_pages(
        self,
        *,
        project_id: str | None = None,
        dataset_id: str | None = None,
        ids: Iterable[str] | None = None,
        name: str | None = None,
        experiment: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        parent_experiment_ids: Iterable[str] | None = None,
        is_deleted: bool | None = None,
        include_user_data: bool = False,
        include_dataset_names: bool = False,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
        prefetch: int = 0,
    ) -> AsyncGenerator[ExperimentPage]:
        """Stream whole pages (same arguments as :meth:`list_experiments`).

        Each :class:`ExperimentPage` carries ``next_cursor``: store it after processing the
        page and pass it back as ``cursor=`` to resume an interrupted job.
        """
        filters = experiment_filters(
            project_id=project_id,
            dataset_id=dataset_id,
            ids=ids,
            name=name,
            experiment=experiment,
            metadata=metadata,
            parent_experiment_ids=parent_experiment_ids,
            is_deleted=is_deleted,
            include_user_data=include_user_data,
            include_dataset_names=include_dataset_names,
        )
        check_paging(page_size=page_size, cursor=cursor, max_items=max_items, prefetch=prefetch)
        if filters is None:  # an empty list of ids matches nothing
            return

        pages = self._pages(
            EXPERIMENTS_PATH,
            filters,
            structure_experiment_page,
            EXPERIMENT_PAGES,
            page_size=page_size,
            cursor=cursor,
            max_items=max_items,
            prefetch=prefetch,
            endpoint=EXPERIMENTS_PATH,
        )
        async with aclosing(pages):
            async for page in pages:
                yield page
                del page  # not held while the next page is fetched

    async def get_experiments(
        self,
        ids: Iterable[str],
        *,
        project_id: str | None = None,
        dataset_id: str | None = None,
        is_deleted: bool | None = None,
        include_user_data: bool = False,
        include_dataset_names: bool = False,
    ) -> ExperimentLookup:
        """Fetch many experiments by id: chunked ``filter[id]`` requests, run concurrently.

        Ids are sent 100 per request (short URLs), all chunks at once under the client's
        ``max_concurrency``. Results keep the order of ``ids`` (duplicates collapse); ids the
        API did not return are listed in :attr:`ExperimentLookup.missing`. The API needs
        ``project_id`` or ``dataset_id`` here too. When one chunk fails, the others are
        cancelled before its error is raised.
        """
        wanted = _batch.unique_ids(ids)
        options: dict[str, Any] = {
            "project_id": project_id,
            "dataset_id": dataset_id,
            "is_deleted": is_deleted,
            "include_user_data": include_user_data,
            "include_dataset_names": include_dataset_names,
        }
        experiment_filters(
            ids=wanted,
            name=None,
            experiment=None,
            metadata=None,
            parent_experiment_ids=None,
            **options,
        )

        def list_chunk(chunk: list[str]) -> AsyncGenerator[Experiment]:
            return self.list_experiments(ids=chunk, **options)

        return await _batch.get_experiments(wanted, list_chunk)
