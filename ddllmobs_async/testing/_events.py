"""``GET /api/v2/llm-obs/v3/experiments/{experiment_id}/events`` on the fake.

Spans come from the same data set as the experiments and the analytics rows (see
``_spans.py``); a test can replace one experiment's events with any documents it likes
(:meth:`ResultsData.set_events`), also for an experiment the fake does not list.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any, Literal

import attrs
from multidict import MultiMapping

from ddllmobs_async.testing._jsonapi import ApiError
from ddllmobs_async.testing._route import Call, FakeData, Route
from ddllmobs_async.testing._spans import make_spans, make_summary_metrics

EVENTS_PATH = "/api/v2/llm-obs/v3/experiments/{experiment_id}/events"
"""Path of the list-experiment-events endpoint (``GET``), with its path parameter."""

EVENTS_DEFAULT_PAGE_SIZE = 5000

EndOfPages = Literal["no-meta", "null", "empty"]
"""How the last page says so: no ``meta`` at all, ``"after": null`` or ``"after": ""``."""

SummaryPages = Literal["every", "first", "last"]
"""Which pages of an experiment's events carry its summary metrics (the others: ``[]``)."""

_END_FORMS = ("no-meta", "null", "empty")
_SUMMARY_FORMS = ("every", "first", "last")
_CURSOR_PARAMETER = "page[cursor]"


@attrs.define
class ResultsData:
    """Options and replacements for the experiment-events and projects routes.

    Attributes:
        events_end: End-of-pages form of the events listing.
        projects_end: End-of-pages form of the projects listing.
        summary_pages: Which events pages carry the summary metrics.
        replaced: Experiment id -> ``(spans, summary_metrics)`` served instead of the
            generated ones.
    """

    events_end: EndOfPages = "null"
    projects_end: EndOfPages = "no-meta"
    summary_pages: SummaryPages = "every"
    replaced: dict[str, tuple[list[Any], list[Any]]] = attrs.Factory(dict)
    _cache: dict[str, tuple[int, list[dict[str, Any]], list[dict[str, Any]]]] = attrs.Factory(dict)

    def set_events(
        self, experiment_id: str, spans: Iterable[Any], summary_metrics: Iterable[Any] = ()
    ) -> None:
        """Serve these wire documents as ``experiment_id``'s events, verbatim."""
        self.replaced[experiment_id] = (list(spans), list(summary_metrics))

    def events_of(self, experiment_id: str, data: FakeData) -> tuple[list[Any], list[Any]] | None:
        """``(spans, summary_metrics)`` of an experiment, or ``None`` if it is unknown."""
        if experiment_id in self.replaced:
            return self.replaced[experiment_id]
        cached = self._cache.get(experiment_id)
        if cached is not None and cached[0] == len(data.events):
            return cached[1], cached[2]
        experiment = next((e for e in data.store.all() if e["id"] == experiment_id), None)
        if experiment is None:
            return None
        rows = [row for row in data.events if row.get("experiment_id") == experiment_id]
        spans = make_spans(experiment, rows)
        summary = make_summary_metrics(experiment_id, spans)
        self._cache[experiment_id] = (len(data.events), spans, summary)
        return spans, summary


def check_results_options(events_end: object, projects_end: object, summary_pages: object) -> None:
    """Raise ``ValueError`` for an end-of-pages form or summary placement that does not exist."""
    for name, value in (("events_end", events_end), ("projects_end", projects_end)):
        if value not in _END_FORMS:
            raise ValueError(f"{name} must be one of {_END_FORMS}, not {value!r}")
    if summary_pages not in _SUMMARY_FORMS:
        raise ValueError(f"summary_pages must be one of {_SUMMARY_FORMS}, not {summary_pages!r}")


def page_limit(query: MultiMapping[str], default: int, maximum: int) -> int:
    """``page[limit]``: absent -> ``default``; above ``maximum`` clamped; not >= 1 -> 400."""
    value = query.get("page[limit]")
    if value is None:
        return min(default, maximum)
    limit = int(value) if value.isascii() and value.isdigit() else 0
    if limit < 1:
        detail = f"page[limit] must be a positive integer, got {value!r}."
        raise ApiError(400, detail, parameter="page[limit]")
    return min(limit, maximum)


def encode_cursor(scope: str, offset: int, page: int) -> str:
    """An opaque, URL-unsafe token (base64 with ``+``/``/``/``=``) for ``offset`` in ``scope``."""
    raw = b"\xfb\xff" + json.dumps({"s": scope, "o": offset, "p": page}).encode()
    if len(raw) % 3 == 0:
        raw += b" "  # JSON ignores it; it guarantees "=" padding
    return base64.b64encode(raw).decode("ascii")


def decode_cursor(query: MultiMapping[str], scope: str) -> tuple[int, int]:
    """``(offset, page)`` of ``page[cursor]`` (``(0, 0)`` when absent); 400 if not ours."""
    token = query.get(_CURSOR_PARAMETER)
    if token is None:
        return 0, 0
    try:
        payload = json.loads(base64.b64decode(token, validate=True)[2:])
    except (binascii.Error, ValueError):
        payload = None
    if (
        not isinstance(payload, dict)
        or payload.get("s") != scope
        or not isinstance(payload.get("o"), int)
        or not isinstance(payload.get("p"), int)
        or payload["o"] < 0
    ):
        raise ApiError(400, "The pagination cursor is not valid here.", parameter=_CURSOR_PARAMETER)
    return payload["o"], payload["p"]


def with_end(document: dict[str, Any], after: str | None, end: EndOfPages) -> dict[str, Any]:
    """``document`` with ``meta.after`` = ``after``, or the end-of-pages form ``end``."""
    if after is not None:
        document["meta"] = {"after": after}
    elif end == "null":
        document["meta"] = {"after": None}
    elif end == "empty":
        document["meta"] = {"after": ""}
    return document


def window(
    items: list[Any], query: MultiMapping[str], data: FakeData, scope: str, default: int
) -> tuple[list[Any], str | None, int, int]:
    """One page of ``items``: ``(served, next cursor, offset, page number)``.

    Every ``empty_pages_every``-th page is empty but points on to the rest.
    """
    limit = page_limit(query, default, data.max_page_size)
    offset, page = decode_cursor(query, scope)
    every = data.empty_pages_every
    if every and (page + 1) % every == 0 and offset < len(items):
        return [], encode_cursor(scope, offset, page + 1), offset, page
    served = items[offset : offset + limit]
    more = offset + limit < len(items)
    after = encode_cursor(scope, offset + limit, page + 1) if more else None
    return served, after, offset, page


def _summary_on(page: list[Any], pages: SummaryPages, first: bool, last: bool) -> list[Any]:
    if pages == "every" or (pages == "first" and first) or (pages == "last" and last):
        return page
    return []


def _list_events(data: FakeData, call: Call) -> dict[str, Any]:
    experiment_id = call.params["experiment_id"]
    found = data.results.events_of(experiment_id, data)
    if found is None:
        raise ApiError(404, f"Experiment {experiment_id!r} not found.")
    spans, summary = found
    query = call.request.query
    served, after, offset, _ = window(
        spans, query, data, f"events:{experiment_id}", EVENTS_DEFAULT_PAGE_SIZE
    )
    summary_here = _summary_on(summary, data.results.summary_pages, offset == 0, after is None)
    document = {
        "data": {
            "id": experiment_id,
            "type": "experiment_events",
            "attributes": {"spans": served, "summary_metrics": summary_here},
        }
    }
    return with_end(document, after, data.results.events_end)


EVENTS_ROUTE = Route(
    endpoint="events",
    method="GET",
    path=EVENTS_PATH,
    limit_name="llm_obs_experiment_events",
    handle=_list_events,
)
