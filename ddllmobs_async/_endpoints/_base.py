"""What every endpoint family's methods stand on: the session manager and the paginator."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, TypeVar

from ddllmobs_async._pagination import FetchPage, PageShape, iter_pages, read_ahead
from ddllmobs_async._session import SessionManager

P = TypeVar("P")


class Endpoints:
    """Base of the endpoint mixins that make up :class:`LLMObsClient`."""

    _session: SessionManager
    _max_empty_pages: int

    def _pages(
        self,
        fetch_page: FetchPage[P],
        shape: PageShape[P, Any],
        *,
        page_size: int | None,
        cursor: str | None,
        max_items: int | None,
        prefetch: int,
    ) -> AsyncGenerator[P]:
        """The lazy (or read-ahead) page stream every list endpoint shares."""
        pages = iter_pages(
            fetch_page,
            shape,
            page_size=page_size,
            cursor=cursor,
            max_items=max_items,
            max_empty_pages=self._max_empty_pages,
        )
        return read_ahead(pages, prefetch, self._session.spawn) if prefetch else pages
