"""``GET /api/v2/llm-obs/v3/experiments/{id}/events``: an experiment's spans, evals and summary."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Hashable
from contextlib import aclosing
from urllib.parse import quote

import attrs

from ddllmobs_async._constants import EXPERIMENT_EVENTS_PATH
from ddllmobs_async._converters.events import count_spans, split_spans, structure_events_page
from ddllmobs_async._endpoints._base import Endpoints
from ddllmobs_async._pagination import PageShape, iter_items
from ddllmobs_async._query import check_paging
from ddllmobs_async.models import (
    EvalMetric,
    ExperimentEventsPage,
    ExperimentResults,
    ExperimentSpan,
)

_DOT_SEGMENTS = frozenset({".", ".."})
_FORBIDDEN = frozenset("/?#")


def _span_key(span: ExperimentSpan) -> Hashable:
    """A span's identity; ``None`` for a span without ids (never taken for another one)."""
    if span.span_id is None and span.id is None:
        return None
    return (span.trace_id, span.span_id or span.id)


EVENT_PAGES: PageShape[ExperimentEventsPage, ExperimentSpan] = PageShape(
    items=lambda page: page.spans,
    with_items=lambda page, spans: attrs.evolve(page, spans=spans),
    key=_span_key,
)


def events_path(experiment_id: str) -> str:
    """The events path of ``experiment_id``, percent-encoded; ``ValueError`` for a bad id."""
    if not isinstance(experiment_id, str) or not experiment_id:
        raise ValueError(f"experiment_id must be a non-empty string, got {experiment_id!r}")
    if any(char in _FORBIDDEN or char.isspace() for char in experiment_id):
        raise ValueError(
            f"experiment_id must not contain '/', '?', '#' or whitespace, got {experiment_id!r}"
        )
    if experiment_id in _DOT_SEGMENTS:  # URL normalisation would drop it, even encoded
        raise ValueError(f"experiment_id must not be '.' or '..', got {experiment_id!r}")
    return EXPERIMENT_EVENTS_PATH.format(experiment_id=quote(experiment_id, safe=""))


def merge_summary_metrics(pages: list[list[EvalMetric]]) -> list[EvalMetric]:
    """Summary metrics of every page, each once: by ``id`` (first seen wins, order kept), one
    without an ``id`` by its whole content. Never added up."""
    merged: list[EvalMetric] = []
    seen_ids: set[str] = set()
    for metrics in pages:
        for metric in metrics:
            if metric.id is not None:
                if metric.id in seen_ids:
                    continue
                seen_ids.add(metric.id)
            elif metric in merged:
                continue
            merged.append(metric)
    return merged


class EventEndpoints(Endpoints):
    """Read what an experiment produced: its spans with their evals, and summary metrics."""

    def list_experiment_events(
        self,
        experiment_id: str,
        *,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
        prefetch: int = 0,
    ) -> AsyncGenerator[ExperimentSpan]:
        """Stream an experiment's spans, each with its eval metrics, fetching pages lazily.

        Page N+1 is requested only when you reach the end of page N (unless ``prefetch``
        says otherwise); ``break`` or ``aclose()`` stops fetching. Arguments are validated
        before the first request. A span the page before already had is not yielded
        again (pages overlap when the list moves under the cursor); a span without
        ``span_id`` or ``id`` is always yielded.

        Args:
            experiment_id: The experiment (percent-encoded into the path).
            page_size: Spans per request, 1..5000 (server default 5000).
            cursor: Resume from this cursor (``ExperimentEventsPage.next_cursor`` or
                ``LLMObsError.cursor``).
            max_items: Stop after this many spans.
            prefetch: Pages to fetch in the background while you work through the current
                one (0, the default, fetches only on demand).

        Raises:
            ValueError: ``experiment_id`` is empty, ``.`` or ``..``, or contains ``/``,
                ``?``, ``#`` or whitespace; a paging argument is out of range.
            NotFoundError: The experiment does not exist.
            LLMObsError: Any failure after retries; its ``cursor`` says where to resume.
        """
        pages = self.list_experiment_event_pages(
            experiment_id,
            page_size=page_size,
            cursor=cursor,
            max_items=max_items,
            prefetch=prefetch,
        )
        return iter_items(pages, EVENT_PAGES)

    async def list_experiment_event_pages(
        self,
        experiment_id: str,
        *,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
        prefetch: int = 0,
    ) -> AsyncGenerator[ExperimentEventsPage]:
        """Stream whole pages (same arguments as :meth:`list_experiment_events`).

        Each :class:`ExperimentEventsPage` carries its spans, the summary metrics as that
        page sent them, and ``next_cursor``: store it after processing the page and pass it
        back as ``cursor=`` to resume an interrupted job.
        """
        path = events_path(experiment_id)
        check_paging(page_size=page_size, cursor=cursor, max_items=max_items, prefetch=prefetch)

        pages = self._pages(
            path,
            [],
            structure_events_page,
            EVENT_PAGES,
            count_spans,
            split_spans,
            page_size=page_size,
            cursor=cursor,
            max_items=max_items,
            prefetch=prefetch,
            endpoint=EXPERIMENT_EVENTS_PATH,
        )
        async with aclosing(pages):
            async for page in pages:
                yield page
                del page  # not held while the next page is fetched

    async def get_experiment_results(
        self, experiment_id: str, *, page_size: int | None = None
    ) -> ExperimentResults:
        """Everything one experiment produced: every span (all pages) and its summary metrics.

        Summary metrics are de-duplicated across pages (the API may repeat them on every
        page): by ``id``, first seen wins, order kept; never added up.

        All or nothing: a failure on a later page drops the pages read before it. For an
        experiment too large to read again, stream :meth:`list_experiment_event_pages`
        and resume from the error's ``cursor``.

        Raises:
            ValueError: A bad ``experiment_id`` or ``page_size``, before any request.
            NotFoundError: The experiment does not exist.
            LLMObsError: Any failure after retries.
        """
        spans: list[ExperimentSpan] = []
        summaries: list[list[EvalMetric]] = []
        pages = self.list_experiment_event_pages(experiment_id, page_size=page_size)
        async with aclosing(pages):
            async for page in pages:
                spans.extend(page.spans)
                summaries.append(page.summary_metrics)
        return ExperimentResults(
            experiment_id=experiment_id,
            spans=spans,
            summary_metrics=merge_summary_metrics(summaries),
        )
