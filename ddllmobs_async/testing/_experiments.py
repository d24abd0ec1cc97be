"""``GET /api/v2/llm-obs/v1/experiments``: query parsing, filtering and keyset pagination."""

from __future__ import annotations

import bisect
import copy
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs
from multidict import MultiMapping

from ddllmobs_async.testing._cursor import Cursor, SortKey
from ddllmobs_async.testing._jsonapi import ApiError
from ddllmobs_async.testing._route import Call, FakeData, Route
from ddllmobs_async.testing._timestamps import parse_ns

EXPERIMENTS_PATH = "/api/v2/llm-obs/v1/experiments"
"""Path of the list-experiments endpoint (``GET``)."""

API_MAX_PAGE_SIZE = 5000
LastPageAfter = Literal["omit", ""] | None

_SINGLE_VALUED = (
    "filter[project_id]",
    "filter[dataset_id]",
    "filter[name]",
    "filter[experiment]",
    "filter[metadata]",
    "filter[is_deleted]",
    "include[user_data]",
    "include[dataset_names]",
    "page[cursor]",
    "page[limit]",
)


@attrs.frozen
class ListQuery:
    """The validated query string of a list request."""

    project_id: str | None
    dataset_id: str | None
    ids: tuple[str, ...]
    name: str | None
    experiment: str | None
    metadata: Mapping[str, Any] | None
    parent_ids: tuple[str, ...]
    is_deleted: bool
    include_user_data: bool
    include_dataset_names: bool
    limit: int
    cursor: Cursor | None

    def matches(self, experiment: Mapping[str, Any]) -> bool:
        """Return whether ``experiment`` (wire dict) passes every filter."""
        attributes = experiment["attributes"]
        checks = (
            _equals(self.project_id, attributes.get("project_id")),
            _equals(self.dataset_id, attributes.get("dataset_id")),
            not self.ids or experiment["id"] in self.ids,
            _equals(self.name, attributes.get("name")),
            _equals(self.experiment, attributes.get("experiment")),
            not self.parent_ids or attributes.get("parent_experiment_id") in self.parent_ids,
            (attributes.get("deleted_at") is not None) == self.is_deleted,
            _contains(attributes.get("metadata"), self.metadata),
        )
        return all(checks)


def _equals(wanted: str | None, actual: object) -> bool:
    return wanted is None or wanted == actual


def _contains(metadata: object, wanted: Mapping[str, Any] | None) -> bool:
    if not wanted:
        return True
    if not isinstance(metadata, Mapping):
        return False
    return all(key in metadata and metadata[key] == value for key, value in wanted.items())


def parse_list_query(query: MultiMapping[str], max_page_size: int) -> ListQuery:
    """Validate a list request's query string.

    Raises:
        ApiError: 400 with ``source.parameter`` naming the offending parameter.
    """
    for name in _SINGLE_VALUED:
        if len(query.getall(name, [])) > 1:
            raise ApiError(400, f"{name} may only be given once.", parameter=name)
    project_id = query.get("filter[project_id]") or None
    dataset_id = query.get("filter[dataset_id]") or None
    if project_id is None and dataset_id is None:
        detail = "filter[project_id] is required when filter[dataset_id] is not provided."
        raise ApiError(400, detail, parameter="filter[project_id]")
    return ListQuery(
        project_id=project_id,
        dataset_id=dataset_id,
        ids=tuple(query.getall("filter[id]", [])),
        name=query.get("filter[name]"),
        experiment=query.get("filter[experiment]"),
        metadata=_metadata(query.get("filter[metadata]")),
        parent_ids=tuple(query.getall("filter[parent_experiment_id]", [])),
        is_deleted=_boolean(query, "filter[is_deleted]"),
        include_user_data=_boolean(query, "include[user_data]"),
        include_dataset_names=_boolean(query, "include[dataset_names]"),
        limit=min(_limit(query.get("page[limit]")), max_page_size, API_MAX_PAGE_SIZE),
        cursor=_cursor(query.get("page[cursor]")),
    )


def _boolean(query: MultiMapping[str], name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    if value not in ("true", "false"):
        raise ApiError(400, f"{name} must be 'true' or 'false', got {value!r}.", parameter=name)
    return value == "true"


def _metadata(value: str | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        detail = f"filter[metadata] must be a JSON object, got {value!r}."
        raise ApiError(400, detail, parameter="filter[metadata]")
    return parsed


def _limit(value: str | None) -> int:
    if value is None:
        return API_MAX_PAGE_SIZE
    limit = int(value) if value.isascii() and value.isdigit() else 0
    if limit < 1:
        detail = f"page[limit] must be a positive integer, got {value!r}."
        raise ApiError(400, detail, parameter="page[limit]")
    return limit


def _cursor(value: str | None) -> Cursor | None:
    if value is None:
        return None
    if not value:
        raise ApiError(400, "page[cursor] must not be empty.", parameter="page[cursor]")
    return Cursor.decode(value)


def sort_key(experiment: Mapping[str, Any]) -> SortKey:
    """Return the listing sort key: ``(created_at in ns, id)``, listed in descending order."""
    return (parse_ns(experiment["attributes"]["created_at"]), experiment["id"])


class ExperimentStore:
    """The experiments the fake serves, indexed by their sort key."""

    def __init__(self, experiments: Iterable[Mapping[str, Any]] = ()) -> None:
        self._keys: list[SortKey] = []  # ascending; listings walk it backwards
        self._entries: dict[SortKey, dict[str, Any]] = {}
        self.add(experiments)

    def add(self, experiments: Iterable[Mapping[str, Any]]) -> None:
        """Store deep copies of wire-format experiments.

        Raises:
            ValueError: If one lacks ``id``/``attributes`` or has an unparsable
                ``created_at``, or its ID is already stored.
        """
        known = {entry["id"] for entry in self._entries.values()}
        for experiment in experiments:
            entry = _checked_copy(experiment)
            if entry["id"] in known:
                raise ValueError(f"duplicate experiment id {entry['id']!r}")
            known.add(entry["id"])
            self._entries[sort_key(entry)] = entry
        self._keys = sorted(self._entries)

    def all(self) -> list[dict[str, Any]]:
        """Return deep copies of every stored experiment, newest first."""
        return [copy.deepcopy(self._entries[key]) for key in reversed(self._keys)]

    def page(
        self, query: ListQuery, *, empty_pages_every: int | None, last_page_after: LastPageAfter
    ) -> dict[str, Any]:
        """Return the response document for one page of ``query``."""
        cursor = query.cursor or Cursor(key=None, page=0)
        matches = (key for key in self._older_than(cursor.key) if query.matches(self._entries[key]))
        window = list(itertools.islice(matches, query.limit + 1))
        next_page = cursor.page + 1
        if window and empty_pages_every and next_page % empty_pages_every == 0:
            return _document([], Cursor(cursor.key, next_page).encode(), last_page_after)
        served = window[: query.limit]
        after = Cursor(served[-1], next_page).encode() if len(window) > query.limit else None
        data = [_render(self._entries[key], query) for key in served]
        return _document(data, after, last_page_after)

    def _older_than(self, key: SortKey | None) -> Iterator[SortKey]:
        """Yield stored keys below ``key`` (all if ``None``), newest first."""
        end = len(self._keys) if key is None else bisect.bisect_left(self._keys, key)
        for index in range(end - 1, -1, -1):
            yield self._keys[index]


def _checked_copy(experiment: Mapping[str, Any]) -> dict[str, Any]:
    entry = copy.deepcopy(dict(experiment))
    if not isinstance(entry.get("id"), str) or not isinstance(entry.get("attributes"), dict):
        raise ValueError("an experiment needs a string 'id' and an 'attributes' object")
    entry.setdefault("type", "experiments")
    parse_ns(entry["attributes"].get("created_at", ""))
    return entry


def _render(entry: Mapping[str, Any], query: ListQuery) -> dict[str, Any]:
    attributes = dict(entry["attributes"])  # serialised right away, never mutated deeper
    if not query.include_user_data:
        attributes.pop("author", None)
    if not query.include_dataset_names:
        attributes.pop("dataset_name", None)
    return {"id": entry["id"], "type": entry["type"], "attributes": attributes}


def _document(
    data: list[dict[str, Any]], after: str | None, last_page_after: LastPageAfter
) -> dict[str, Any]:
    if after is not None:
        return {"data": data, "meta": {"after": after}}
    if last_page_after == "omit":
        return {"data": data, "meta": {}}
    return {"data": data, "meta": {"after": last_page_after}}


def _list_experiments(data: FakeData, call: Call) -> dict[str, Any]:
    query = parse_list_query(call.request.query, data.max_page_size)
    return data.store.page(
        query, empty_pages_every=data.empty_pages_every, last_page_after=data.last_page_after
    )


EXPERIMENTS_ROUTE = Route(
    endpoint="experiments",
    method="GET",
    path=EXPERIMENTS_PATH,
    limit_name="llm_obs_experiments_list",
    handle=_list_experiments,
)
