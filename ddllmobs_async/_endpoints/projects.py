"""``GET /api/v2/llm-obs/v1/projects``: the projects experiments belong to."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing

import attrs

from ddllmobs_async._constants import PROJECTS_PATH
from ddllmobs_async._converters.projects import structure_project_page
from ddllmobs_async._endpoints._base import Endpoints
from ddllmobs_async._pagination import PageShape, iter_items
from ddllmobs_async._query import add_text, check_paging, text_list
from ddllmobs_async.models._projects import Project, ProjectPage

PROJECT_PAGES: PageShape[ProjectPage, Project] = PageShape(
    items=lambda page: page.projects,
    with_items=lambda page, projects: attrs.evolve(page, projects=projects),
    key=lambda project: project.id,
)


class ProjectEndpoints(Endpoints):
    """Find projects (and so the ``project_id`` experiments are listed by)."""

    def list_projects(
        self,
        *,
        ids: Iterable[str] | None = None,
        name: str | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
    ) -> AsyncGenerator[Project]:
        """Stream the organization's projects, newest first, fetching pages lazily.

        Same paging semantics as :meth:`list_experiments`.

        Args:
            ids: Only these project ids (sent as repeated ``filter[id]``); an empty list
                yields nothing, without a request.
            name: Only projects with this name.
            page_size: Projects per request, 1..5000.
            cursor: Resume from this cursor (``LLMObsError.cursor``).
            max_items: Stop after this many projects.

        Raises:
            ValueError: An empty id or name, a paging argument out of range.
            LLMObsError: Any failure after retries; its ``cursor`` says where to resume.
        """
        pages = self._project_pages(
            ids=ids, name=name, page_size=page_size, cursor=cursor, max_items=max_items
        )
        return iter_items(pages, PROJECT_PAGES)

    async def _project_pages(
        self,
        *,
        ids: Iterable[str] | None = None,
        name: str | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
    ) -> AsyncGenerator[ProjectPage]:
        """Whole pages of :meth:`list_projects` (for the command line's resume cursor)."""
        params: list[tuple[str, str]] = []
        id_values = text_list("ids", ids)
        params.extend(("filter[id]", value) for value in id_values)
        add_text(params, "filter[name]", "name", name)
        check_paging(page_size=page_size, cursor=cursor, max_items=max_items)
        if ids is not None and not id_values:
            return

        pages = self._pages(
            PROJECTS_PATH,
            params,
            structure_project_page,
            PROJECT_PAGES,
            page_size=page_size,
            cursor=cursor,
            max_items=max_items,
            prefetch=0,
            endpoint=PROJECTS_PATH,
        )
        async with aclosing(pages):
            async for page in pages:
                yield page
                del page  # not held while the next page is fetched
