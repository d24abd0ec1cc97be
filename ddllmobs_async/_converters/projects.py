"""``GET /api/v2/llm-obs/v1/projects``: a page of JSON:API resources -> ``ProjectPage``."""

from __future__ import annotations

from typing import Any

from ddllmobs_async._converters import converter, structure
from ddllmobs_async._converters.jsonapi import flatten, next_cursor, resource_list
from ddllmobs_async.models._projects import Project, ProjectPage

_structure_project = converter.get_structure_hook(Project)


def structure_project(item: Any, *, path: str = "$") -> Project:
    """One JSON:API project resource (``{"id", "type", "attributes"}``) -> ``Project``."""
    project: Project = structure(flatten(item, path), Project, f"{path}.attributes")
    return project


def _structure_projects(items: list[Any]) -> list[Project]:
    try:  # the usual well-formed page: no per-item paths; any failure is explained below
        return [
            _structure_project({**item["attributes"], "id": item["id"]}, Project) for item in items
        ]
    except Exception:
        pass
    return [structure_project(item, path=f"$.data[{i}]") for i, item in enumerate(items)]


def structure_project_page(body: Any, *, cursor: str | None = None) -> ProjectPage:
    """A decoded list-projects body -> :class:`ProjectPage`."""
    projects = _structure_projects(resource_list(body))
    return ProjectPage(projects=projects, next_cursor=next_cursor(body), cursor=cursor)
