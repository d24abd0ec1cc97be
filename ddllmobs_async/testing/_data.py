"""Builders for wire-format experiments and eval events (deterministic seed data)."""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ddllmobs_async.testing._timestamps import format_ns, parse_ns, shift_ns, to_epoch_ms

FAKE_API_KEY = "fake-dd-api-key-0123456789abcdef"
"""The API key a :class:`FakeLLMObs` accepts unless told otherwise."""

FAKE_APP_KEY = "fake-dd-app-key-0123456789abcdef01234567"
"""The application key a :class:`FakeLLMObs` accepts unless told otherwise."""

DEFAULT_PROJECT_ID = "a33671aa-24fd-4dcd-9b33-a8ec7dde7751"
"""Project ID that seeded experiments belong to unless told otherwise."""

NEWEST_CREATED_AT = "2026-07-20T09:30:04.928462935Z"
STATUSES = ("completed", "running", "completed", "failed", "completed", "interrupted", "completed")
EVAL_LABELS = ("faithfulness", "relevance")
_LOGICAL_NAMES = ("summarizer", "qa-bot", "router")
_DATASET_NAMES = ("support-tickets", "faq-golden", "adversarial-prompts")
_BRANCHES = ("main", "main", "feature/retrieval", "release/2026.07")
_USERS = (("Jane Doe", "jane.doe"), ("Ravi Patel", "ravi.patel"), ("Mei Chen", "mei.chen"))
_FRACTION_DIGITS = (9, 0, 6)
_NEWEST_AGE = timedelta(minutes=5)

_ATTRIBUTE_NAMES = frozenset(
    {
        "aggregate_data",
        "author",
        "config",
        "created_at",
        "dataset_id",
        "dataset_name",
        "dataset_version",
        "deleted_at",
        "description",
        "error",
        "experiment",
        "metadata",
        "name",
        "parent_experiment_id",
        "project_id",
        "run_count",
        "status",
        "updated_at",
    }
)


def make_author(name: str = "Jane Doe", handle: str = "jane.doe") -> dict[str, str]:
    """Return the ``author`` object Datadog adds when ``include[user_data]=true``."""
    return {
        "email": f"{handle}@example.com",
        "handle": f"{handle}@example.com",
        "icon": f"https://example.com/icons/{handle}.png",
        "id": _user_id(handle),
        "name": name,
    }


@functools.cache
def _user_id(handle: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{handle}"))


def make_experiment(**overrides: Any) -> dict[str, Any]:
    """Build one experiment in wire format: ``{"id", "type", "attributes"}``.

    Every attribute of the API schema is present. Keyword arguments override ``id``,
    ``type`` or any attribute by name (``name=..., status=..., deleted_at=...``).
    ``author`` and ``dataset_name`` are stored on the fake and only sent back when the
    request asks for them with ``include[user_data]`` / ``include[dataset_names]``.

    Args:
        **overrides: ``id``, ``type`` or attribute values to use instead of the defaults.

    Returns:
        A new JSON-compatible dict. The default ``id`` is a random UUID4; all other
        defaults are fixed.

    Raises:
        TypeError: If an override names neither ``id``, ``type`` nor an attribute.
    """
    unknown = set(overrides) - _ATTRIBUTE_NAMES - {"id", "type"}
    if unknown:
        raise TypeError(f"make_experiment() got unknown fields: {sorted(unknown)}")
    attributes: dict[str, Any] = {
        "aggregate_data": {},
        "author": make_author(),
        "config": {"model": "gpt-4o-mini", "temperature": 0.0},
        "created_at": NEWEST_CREATED_AT,
        "dataset_id": "9f64e5c7-dc5a-45c8-a17c-1b85f0bec97d",
        "dataset_name": "support-tickets",
        "dataset_version": 1,
        "deleted_at": None,
        "description": "",
        "error": None,
        "experiment": "my-pipeline",
        "metadata": {},
        "name": "My Experiment v1",
        "parent_experiment_id": None,
        "project_id": DEFAULT_PROJECT_ID,
        "run_count": 1,
        "status": "completed",
        "updated_at": NEWEST_CREATED_AT,
    }
    attributes.update({k: v for k, v in overrides.items() if k in _ATTRIBUTE_NAMES})
    return {
        "id": overrides.get("id", str(uuid.uuid4())),
        "type": overrides.get("type", "experiments"),
        "attributes": attributes,
    }


def make_experiments(
    n: int,
    *,
    seed: int = 0,
    project_id: str = DEFAULT_PROJECT_ID,
    newest_created_at: str = NEWEST_CREATED_AT,
) -> list[dict[str, Any]]:
    """Build ``n`` deterministic experiments of one project, newest first.

    The set mixes three datasets, three logical experiment names (``summarizer``,
    ``qa-bot``, ``router``), ``metadata`` with ``branch``/``commit``/``trigger``, baseline
    children (``parent_experiment_id``), every status (failed ones carry ``error``),
    soft-deleted runs (every 8th, starting with the 7th) and ``created_at`` values with
    nanosecond, microsecond and no fraction. The 4th and 5th share ``created_at`` so
    pagination must break the tie by ID.

    Args:
        n: Number of experiments.
        seed: Seed for IDs, names and values; the same seed gives the same data.
        project_id: ``project_id`` of every experiment.
        newest_created_at: ``created_at`` of the newest experiment.

    Returns:
        The wire dicts, index 0 the newest.
    """
    rng = random.Random(seed)
    datasets = [(_uuid(rng), name) for name in _DATASET_NAMES]
    newest_ns = parse_ns(newest_created_at)
    created = _created_times(rng, n, newest_ns)
    experiments = [_seeded_experiment(rng, i, created[i], datasets, project_id) for i in range(n)]
    _link_baselines(experiments)
    return experiments


def newest_created_before(now: datetime) -> str:
    """``created_at`` of the newest seeded experiment when the data leads up to ``now``.

    Five minutes before it, so that the eval events a few seconds after every experiment
    lie in the past too.

    Raises:
        ValueError: If ``now`` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime, e.g. datetime.now(UTC)")
    anchor = now - _NEWEST_AGE
    ns = int(anchor.timestamp()) * 1_000_000_000 + anchor.microsecond * 1000
    return format_ns(ns, 9)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _created_times(rng: random.Random, n: int, newest_ns: int) -> list[tuple[int, int]]:
    """Return (nanoseconds, fraction digits) per index, newest first, with one tie."""
    times: list[tuple[int, int]] = []
    ns = newest_ns
    for i in range(n):
        digits = _FRACTION_DIGITS[i % 3]
        times.append((_truncate(ns, digits), digits))
        ns = shift_ns(ns, -timedelta(minutes=37, seconds=rng.randrange(3600)))
        ns -= rng.randrange(1_000_000_000)
    if n >= 5:
        times[4] = times[3]
    return times


def _is_deleted(i: int) -> bool:
    return i % 8 == 6  # every 8th, starting with the 7th


def total_for_live(live: int) -> int:
    """How many seeded experiments to make so that ``live`` of them are not soft-deleted."""
    total = live
    while total - sum(1 for i in range(total) if _is_deleted(i)) < live:
        total += 1
    return total


def _truncate(ns: int, digits: int) -> int:
    unit: int = 10 ** (9 - digits)
    return ns - ns % unit


def _seeded_experiment(
    rng: random.Random,
    i: int,
    created: tuple[int, int],
    datasets: list[tuple[str, str]],
    project_id: str,
) -> dict[str, Any]:
    created_ns, digits = created
    status = STATUSES[i % len(STATUSES)]
    dataset_id, dataset_name = datasets[rng.randrange(len(datasets))]
    logical = _LOGICAL_NAMES[(i // 2) % len(_LOGICAL_NAMES)]
    branch = rng.choice(_BRANCHES)
    commit = f"{rng.getrandbits(48):012x}"
    updated_ns = created_ns if status == "running" else shift_ns(created_ns, _minutes(rng))
    return make_experiment(
        id=_uuid(rng),
        aggregate_data=_aggregate_data(rng) if status == "completed" else {},
        author=make_author(*_USERS[rng.randrange(len(_USERS))]),
        config={"model": rng.choice(("gpt-4o-mini", "claude-sonnet")), "temperature": 0.2},
        created_at=format_ns(created_ns, digits),
        dataset_id=dataset_id,
        dataset_name=dataset_name,
        dataset_version=rng.randint(1, 5),
        deleted_at=format_ns(shift_ns(created_ns, timedelta(days=2)), 6)
        if _is_deleted(i)
        else None,
        description="" if i % 4 == 1 else f"Nightly {logical} run on {branch}",
        error="EvaluatorTimeout: evaluator timed out after 300s" if status == "failed" else None,
        experiment=logical,
        metadata={"branch": branch, "commit": commit, "trigger": rng.choice(("ci", "manual"))},
        name=f"{logical}-{commit[:7]}",
        project_id=project_id,
        run_count=rng.randint(1, 3),
        status=status,
        updated_at=format_ns(updated_ns, 6),
    )


def _minutes(rng: random.Random) -> timedelta:
    return timedelta(minutes=rng.randint(1, 30), microseconds=rng.randrange(1_000_000))


def _aggregate_data(rng: random.Random) -> dict[str, Any]:
    return {
        "error_rate": round(rng.random() * 0.1, 4),
        "total_cost_usd": round(rng.random() * 3, 4),
        "evals": {label: {"mean": round(rng.random(), 3)} for label in EVAL_LABELS},
    }


def _link_baselines(experiments: list[dict[str, Any]]) -> None:
    """Point every other later run of a logical experiment at its oldest run."""
    baselines: dict[str, str] = {}
    runs: dict[str, int] = {}
    for experiment in reversed(experiments):
        attributes = experiment["attributes"]
        logical = attributes["experiment"]
        if logical not in baselines:
            baselines[logical] = experiment["id"]
            runs[logical] = 0
            continue
        runs[logical] += 1
        if runs[logical] % 2 == 1:
            attributes["parent_experiment_id"] = baselines[logical]


def make_eval_events(
    experiments: Iterable[Mapping[str, Any]],
    per_experiment: int = 4,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Build deterministic eval events for the analytics endpoint.

    Each event is a flat dict with ``experiment_id``, ``span_id``, ``trace_id``,
    ``label`` (alternating ``faithfulness`` / ``relevance``), ``score_value`` (a float in
    [0, 1], or ``None`` for about one event in ten), ``dataset_version``, ``project_id``,
    ``dataset_id`` and ``timestamp`` (epoch milliseconds, one second apart starting one
    second after the experiment's ``created_at``).

    Args:
        experiments: Wire-format experiments (as from :func:`make_experiments`).
        per_experiment: Number of events per experiment.
        seed: Seed for span/trace IDs and scores.

    Returns:
        The events, grouped by experiment in the given order.
    """
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for experiment in experiments:
        attributes = experiment["attributes"]
        start_ms = to_epoch_ms(parse_ns(attributes["created_at"]))
        for k in range(per_experiment):
            score = None if rng.random() < 0.1 else round(rng.random(), 3)
            events.append(
                {
                    "experiment_id": experiment["id"],
                    "span_id": f"{rng.getrandbits(64):016x}",
                    "trace_id": f"{rng.getrandbits(128):032x}",
                    "label": EVAL_LABELS[k % len(EVAL_LABELS)],
                    "score_value": score,
                    "dataset_version": attributes.get("dataset_version"),
                    "project_id": attributes.get("project_id"),
                    "dataset_id": attributes.get("dataset_id"),
                    "timestamp": start_ms + (k + 1) * 1000,
                }
            )
    return events
