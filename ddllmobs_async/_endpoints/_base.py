"""What every endpoint family's methods stand on: the session manager and the paginator."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, TypeVar

from ddllmobs_async._converters.jsonapi import count_resources, split_resources
from ddllmobs_async._pagination import PageShape, PageSource, iter_pages
from ddllmobs_async._query import page_params
from ddllmobs_async._session import SessionManager

P = TypeVar("P")


def _decoded(body: Any) -> Any:
    return body


class Endpoints:
    """Base of the endpoint mixins that make up :class:`LLMObsClient`."""

    _session: SessionManager
    _max_empty_pages: int

    def _pages(
        self,
        path: str,
        params: Sequence[tuple[str, str]],
        structure: Callable[..., P],
        shape: PageShape[P, Any],
        count: Callable[[Any], int] = count_resources,
        split: Callable[[Any, int], list[Any]] = split_resources,
        *,
        page_size: int | None,
        cursor: str | None,
        max_items: int | None,
        prefetch: int,
        endpoint: str,
    ) -> AsyncGenerator[P]:
        """The page stream of ``GET path`` every list endpoint shares (lazy, or reading
        ``prefetch`` pages ahead); ``structure(body, cursor=...)`` builds each page and
        ``count(body)`` and ``split(body, parts)`` count and slice a body's items.
        ``endpoint`` is ``path``'s template: it names the rate-limit gate."""

        async def fetch_body(page_cursor: str | None, limit: int | None) -> Any:
            query = [*params, *page_params(limit, page_cursor)]
            return await self._session.request_json(
                "GET", path, _decoded, endpoint=endpoint, params=query
            )

        def structure_page(body: Any, *, cursor: str | None) -> P:
            return self._session.parsed(structure, body, cursor=cursor)

        return iter_pages(
            PageSource(fetch_body, structure_page, count, split),
            shape,
            page_size=page_size,
            cursor=cursor,
            max_items=max_items,
            max_empty_pages=self._max_empty_pages,
            ahead=prefetch,
            spawn=self._session.spawn,
        )
