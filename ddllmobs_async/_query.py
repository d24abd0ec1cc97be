"""Keyword filters of ``list_experiments`` -> validated query parameters."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ddllmobs_async._constants import MAX_PAGE_SIZE


def experiment_filters(
    *,
    project_id: str | None,
    dataset_id: str | None,
    ids: Iterable[str] | str | None,
    name: str | None,
    experiment: str | None,
    metadata: Mapping[str, Any] | str | None,
    parent_experiment_ids: Iterable[str] | str | None,
    is_deleted: bool | None,
    include_user_data: bool,
    include_dataset_names: bool,
) -> list[tuple[str, str]] | None:
    """Validate the filters and encode them as (repeatable) query parameters.

    ``None`` when the filters can match nothing (an empty list of ids): no request is needed.
    Raises ``ValueError`` / ``TypeError`` naming the argument, before any request.
    """
    if project_id is None and dataset_id is None:
        raise ValueError(
            "project_id or dataset_id is required (the API lists experiments of one of them)"
        )
    params: list[tuple[str, str]] = []
    add_text(params, "filter[project_id]", "project_id", project_id)
    add_text(params, "filter[dataset_id]", "dataset_id", dataset_id)
    id_values = text_list("ids", ids)
    params.extend(("filter[id]", value) for value in id_values)
    add_text(params, "filter[name]", "name", name)
    add_text(params, "filter[experiment]", "experiment", experiment)
    if metadata is not None:
        params.append(("filter[metadata]", encode_metadata(metadata)))
    parent_ids = text_list("parent_experiment_ids", parent_experiment_ids)
    params.extend(("filter[parent_experiment_id]", value) for value in parent_ids)
    if is_deleted is not None:
        params.append(("filter[is_deleted]", _bool("is_deleted", is_deleted)))
    for key, argument, flag in (
        ("include[user_data]", "include_user_data", include_user_data),
        ("include[dataset_names]", "include_dataset_names", include_dataset_names),
    ):
        if _bool(argument, flag) == "true":  # checked even when false: 0 or None is refused
            params.append((key, "true"))
    if (ids is not None and not id_values) or (
        parent_experiment_ids is not None and not parent_ids
    ):
        return None
    return params


def check_paging(
    *, page_size: int | None, cursor: str | None, max_items: int | None, prefetch: int = 0
) -> None:
    """Validate the paging arguments (``page_size`` 1..5000, ``max_items``/``prefetch`` >= 0)."""
    if page_size is not None:
        _check_int("page_size", page_size)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    if max_items is not None:
        _check_int("max_items", max_items)
        if max_items < 0:
            raise ValueError(f"max_items must be >= 0, got {max_items}")
    _check_int("prefetch", prefetch)
    if prefetch < 0:
        raise ValueError(f"prefetch must be >= 0, got {prefetch}")
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        raise ValueError(f"cursor must be a non-empty string from a previous page, got {cursor!r}")


def page_params(page_size: int | None, cursor: str | None) -> list[tuple[str, str]]:
    """The paging parameters of one request; the cursor goes back exactly as received."""
    params = []
    if page_size is not None:
        params.append(("page[limit]", str(page_size)))
    if cursor is not None:
        params.append(("page[cursor]", cursor))
    return params


def encode_metadata(metadata: Mapping[str, Any] | str) -> str:
    """A metadata mapping as the compact JSON object string the API expects."""
    if isinstance(metadata, str):
        try:
            decoded = json.loads(
                metadata, parse_constant=_reject_constant, parse_float=_finite_float
            )
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            raise ValueError("metadata must be a mapping (or a JSON object string)")
        return metadata
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping, got {type(metadata).__name__}")
    try:
        return json.dumps(
            dict(metadata), separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"metadata must be JSON-serializable (no NaN or infinity): {err}"
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 overflows to infinity
        raise ValueError(f"{text} is not a finite number")
    return number


def add_text(params: list[tuple[str, str]], key: str, argument: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value:
        raise ValueError(f"{argument} must be a non-empty string, got {value!r}")
    params.append((key, value))


def text_list(argument: str, values: Iterable[str] | str | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    result = list(values)
    for value in result:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{argument} must contain non-empty strings, got {value!r}")
    return result


def _bool(argument: str, value: bool) -> str:
    if not isinstance(value, bool):
        raise TypeError(f"{argument} must be a bool, got {value!r}")
    return "true" if value else "false"


def _check_int(argument: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int, got {value!r}")
