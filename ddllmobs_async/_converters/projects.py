"""``GET /api/v2/llm-obs/v1/projects``: a page of JSON:API resources -> ``ProjectPage``."""

from __future__ import annotations

from typing import Any

from ddllmobs_async._converters.jsonapi import next_cursor, resource_list, structure_resources
from ddllmobs_async.models._projects import Project, ProjectPage


def structure_project_page(body: Any, *, cursor: str | None = None) -> ProjectPage:
    """A decoded list-projects body -> :class:`ProjectPage`."""
    projects = structure_resources(resource_list(body), Project)
    return ProjectPage(projects=projects, next_cursor=next_cursor(body), cursor=cursor)
