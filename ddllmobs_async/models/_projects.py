"""Projects, as listed by ``GET /api/v2/llm-obs/v1/projects``."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen
class Project:
    """One LLM Observability project (the ``project_id`` experiments belong to).

    ``Project(id, name, description, created_at, updated_at)``, positionally or by name.
    Timestamps are timezone-aware UTC datetimes. ``description`` may be ``None`` or ``""``.

    Attributes:
        id: Unique identifier of the project: the ``project_id`` of its experiments.
        name: Project name.
        description: Free-text description; ``None`` or ``""`` when there is none.
        created_at: When the project was created (aware UTC datetime); ``None`` when not
            sent.
        updated_at: When the project was last updated (aware UTC datetime); ``None`` when
            not sent.
    """

    id: str
    name: str
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@attrs.frozen
class ProjectPage:
    """One page of projects (internal: the paginator's unit for :meth:`list_projects`)."""

    projects: list[Project]
    next_cursor: str | None
    cursor: str | None = None
