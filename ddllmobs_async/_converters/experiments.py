"""``GET /api/v2/llm-obs/v1/experiments``: a page of JSON:API resources -> ``ExperimentPage``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ddllmobs_async._converters.jsonapi import (
    next_cursor,
    resource_list,
    structure_resource,
    structure_resources,
)
from ddllmobs_async._json import decode_json
from ddllmobs_async._responses import gc_paused
from ddllmobs_async.models import Experiment, ExperimentPage


def structure_experiment(item: Any, *, path: str = "$") -> Experiment:
    """One JSON:API experiment resource (``{"id", "type", "attributes"}``) -> ``Experiment``."""
    return structure_resource(item, Experiment, path=path)


def structure_experiment_page(body: Any, *, cursor: str | None = None) -> ExperimentPage:
    """A decoded list-experiments body -> :class:`ExperimentPage`."""
    experiments = structure_resources(resource_list(body), Experiment)
    return ExperimentPage(experiments=experiments, next_cursor=next_cursor(body), cursor=cursor)


def parse_experiment_page(
    body: bytes | str | Mapping[str, Any], *, cursor: str | None = None
) -> ExperimentPage:
    """Build an :class:`ExperimentPage` from a list-experiments response body.

    For jobs that keep raw pages (a cache, an archive) and structure them later, exactly as
    :meth:`LLMObsClient.list_experiment_pages` would have.

    Args:
        body: The body as received (bytes or text), or already decoded.
        cursor: The cursor that fetched this page, if you want it on the result.

    Raises:
        ResponseValidationError: The body is not JSON, or not a page of experiments.
    """
    size = len(body) if isinstance(body, bytes | str) else 0
    with gc_paused(size):
        if isinstance(body, str):
            body = body.encode()
        data = decode_json(body) if isinstance(body, bytes) else body
        return structure_experiment_page(data, cursor=cursor)
