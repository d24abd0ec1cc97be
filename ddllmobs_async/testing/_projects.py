"""``GET /api/v2/llm-obs/v1/projects`` on the fake: the projects its experiments belong to."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from ddllmobs_async.testing._data import DEFAULT_PROJECT_ID
from ddllmobs_async.testing._events import window, with_end
from ddllmobs_async.testing._route import Call, FakeData, Route
from ddllmobs_async.testing._timestamps import format_ns, parse_ns, shift_ns

PROJECTS_PATH = "/api/v2/llm-obs/v1/projects"
"""Path of the list-projects endpoint (``GET``)."""

PROJECTS_DEFAULT_PAGE_SIZE = 100

_NAMES = ("support-bot-evals", "rag-pipeline", "router-evals", "qa-golden", "summarizer-nightly")


def _name(project_id: str) -> str:
    if project_id == DEFAULT_PROJECT_ID:
        return "My LLM Project"
    return f"{random.Random(project_id).choice(_NAMES)}-{project_id[:4]}"


def _description(project_id: str, position: int) -> str | None:
    if project_id == DEFAULT_PROJECT_ID or position % 3 == 1:
        return None
    return "" if position % 3 == 2 else f"Offline evals of {_name(project_id)}."


def make_projects(experiments: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Wire-format projects of ``experiments``' ``project_id`` s, newest first.

    A project was created a day before its first experiment and last updated with its
    newest one; ``description`` is sometimes ``null`` or ``""`` like the API's.
    """
    spans: dict[str, tuple[int, int]] = {}
    for experiment in experiments:
        attributes = experiment["attributes"]
        project_id = attributes.get("project_id")
        if not isinstance(project_id, str):
            continue
        created = parse_ns(attributes["created_at"])
        first, last = spans.get(project_id, (created, created))
        spans[project_id] = (min(first, created), max(last, created))
    ordered = sorted(spans.items(), key=lambda item: (item[1][0], item[0]), reverse=True)
    return [
        {
            "id": project_id,
            "type": "projects",
            "attributes": {
                "name": _name(project_id),
                "description": _description(project_id, position),
                "created_at": format_ns(shift_ns(first, -timedelta(days=1)), 3),
                "updated_at": format_ns(last, 3),
            },
        }
        for position, (project_id, (first, last)) in enumerate(ordered)
    ]


def _list_projects(data: FakeData, call: Call) -> dict[str, Any]:
    query = call.request.query
    ids = set(query.getall("filter[id]", []))
    name = query.get("filter[name]")
    projects = [
        project
        for project in make_projects(data.store.all())
        if (not ids or project["id"] in ids)
        and (name is None or project["attributes"]["name"] == name)
    ]
    scope = f"projects:{sorted(ids)}:{name}"
    served, after, _, _ = window(projects, query, data, scope, PROJECTS_DEFAULT_PAGE_SIZE)
    return with_end({"data": served}, after, data.results.projects_end)


PROJECTS_ROUTE = Route(
    endpoint="projects",
    method="GET",
    path=PROJECTS_PATH,
    limit_name="llm_obs_projects_list",
    handle=_list_projects,
)
