"""Experiments as listed by ``GET /api/v2/llm-obs/v1/experiments``, and the batch results."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs


class ExperimentStatus(enum.StrEnum):
    """Execution status of an experiment.

    The API is in preview: a status this enum does not know yet is kept as the plain string
    on :attr:`Experiment.status`, never an error.
    """

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@attrs.frozen(kw_only=True)
class Author:
    """The user who created an experiment (only with ``include_user_data=True``).

    Attributes:
        id: Unique identifier of the user; ``None`` when not sent.
        name: Display name of the user; ``None`` when not sent.
        handle: Username or handle of the user's Datadog account; ``None`` when not sent.
        email: Email address of the user; ``None`` when not sent.
        icon: URL of the user's icon; ``None`` when not sent.
    """

    id: str | None = None
    name: str | None = None
    handle: str | None = None
    email: str | None = None
    icon: str | None = None


@attrs.frozen(kw_only=True)
class Experiment:
    """One experiment run, as listed by ``GET /api/v2/llm-obs/v1/experiments``.

    Timestamps are timezone-aware UTC datetimes (Datadog's nanoseconds are truncated to
    microseconds). ``config`` and ``metadata`` are ``{}`` when the server sends ``null``.

    Attributes:
        id: Unique identifier of the experiment (a UUID string).
        name: Name of this run, e.g. ``summarizer-8f4f78d``.
        description: Free-text description; ``None`` or ``""`` when there is none.
        project_id: The project the experiment belongs to.
        dataset_id: The dataset the experiment ran on.
        config: Configuration parameters of the run, any JSON object; ``{}`` when absent.
        metadata: Arbitrary metadata of the run, any JSON object; ``{}`` when absent.
        created_at: When the experiment was created (aware UTC datetime).
        updated_at: When the experiment was last updated (aware UTC datetime).
        dataset_version: Version of the dataset used; ``None`` when not sent.
        dataset_name: Name of the dataset; ``None`` unless listed with
            ``include_dataset_names=True``.
        experiment: Logical experiment name shared by every run of the same pipeline;
            ``None`` when not sent.
        aggregate_data: Pre-computed aggregate metrics of the run (eval score
            distributions, token costs, error rates), any JSON object as sent; ``None``
            when absent.
        author: The user who created the experiment; ``None`` unless listed with
            ``include_user_data=True``.
        status: An :class:`ExperimentStatus`, or the plain string of a status this library
            does not know yet; ``None`` when not sent.
        run_count: Expected number of runs of the experiment; ``None`` when not sent.
        error: Why the experiment failed; ``None`` when it did not (or no reason is sent).
        parent_experiment_id: The baseline experiment this one ran against; ``None`` if
            there is none.
        deleted_at: When the experiment was soft-deleted (aware UTC datetime); ``None``
            unless it was.
    """

    id: str
    name: str
    description: str | None
    project_id: str
    dataset_id: str
    config: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    dataset_version: int | None = None
    dataset_name: str | None = None
    experiment: str | None = None
    aggregate_data: dict[str, Any] | None = None
    author: Author | None = None
    status: ExperimentStatus | str | None = None
    run_count: int | None = None
    error: str | None = None
    parent_experiment_id: str | None = None
    deleted_at: datetime | None = None


@attrs.frozen
class ExperimentPage:
    """One page of experiments, for jobs that checkpoint between pages.

    Attributes:
        experiments: The page's experiments, newest first.
        next_cursor: Cursor of the next page, ``None`` on the last page. Save it after
            processing the page; resume later with ``cursor=next_cursor``.
        cursor: The cursor that fetched this page (``None`` for the first page).
    """

    experiments: list[Experiment]
    next_cursor: str | None
    cursor: str | None = None


@attrs.frozen(kw_only=True)
class ExperimentLookup:
    """Result of :meth:`LLMObsClient.get_experiments`.

    Attributes:
        experiments: The experiments found, in the order their ids were given.
        missing: Requested ids the API did not return (unknown, or filtered out, e.g.
            soft-deleted), in the order given.
    """

    experiments: list[Experiment]
    missing: list[str]

    @property
    def by_id(self) -> dict[str, Experiment]:
        """The found experiments keyed by id."""
        return {experiment.id: experiment for experiment in self.experiments}


@attrs.frozen(kw_only=True)
class ExperimentComparison:
    """Result of :meth:`LLMObsClient.compare_experiments`: scores per group vs a baseline.

    Attributes:
        baseline_id: The baseline experiment.
        metric: The metric compared (e.g. ``score_value``).
        group_by: The field scores are grouped by (e.g. ``label``: one score per eval).
        baseline: The baseline's score per group.
        scores: Each compared experiment's score per group.
    """

    baseline_id: str
    metric: str
    group_by: str
    baseline: dict[str, Any]
    scores: dict[str, dict[str, Any]]

    def delta(self, experiment_id: str, group: str) -> float | None:
        """``experiment_id``'s score minus the baseline's for ``group`` (None if one is missing)."""
        score = self.scores.get(experiment_id, {}).get(group)
        base = self.baseline.get(group)
        if isinstance(score, int | float) and isinstance(base, int | float):
            return float(score) - float(base)
        return None

    @property
    def deltas(self) -> dict[str, dict[str, float | None]]:
        """Every experiment's difference to the baseline, per group."""
        groups = set(self.baseline).union(*(s.keys() for s in self.scores.values()))
        return {
            experiment_id: {group: self.delta(experiment_id, group) for group in sorted(groups)}
            for experiment_id in self.scores
        }
