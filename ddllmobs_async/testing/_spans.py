"""Wire-format experiment spans and summary metrics, derived from the fake's one data set.

Every span-level score eval is one of the analytics eval rows (``make_eval_events``), so
averages computed by the analytics endpoint and over the spans' eval metrics agree. Around
those rows each experiment gets, deterministically from its id: one root span per dataset
record (the rows sharing a ``span_id``), child spans (retrieval, LLM call), inputs and
outputs of a few hundred bytes to a few KB in several JSON shapes, failed spans (the records
whose score is ``null``), and categorical, boolean and JSON evals besides the scores.
"""

from __future__ import annotations

import random
import statistics
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ddllmobs_async.testing._timestamps import parse_ns

_WORDS = (
    "invoice",
    "refund",
    "charged",
    "twice",
    "account",
    "password",
    "reset",
    "email",
    "export",
    "button",
    "firefox",
    "dashboard",
    "latency",
    "timeout",
    "customer",
    "subscription",
    "renewal",
    "discount",
    "shipping",
    "address",
    "order",
    "tracking",
    "number",
    "warehouse",
    "delay",
    "api",
    "key",
    "rotation",
    "webhook",
    "retry",
    "billing",
    "cycle",
    "plan",
    "upgrade",
    "downgrade",
    "seat",
    "license",
    "audit",
    "log",
    "permission",
    "role",
    "admin",
    "sso",
    "login",
    "mfa",
)
_TONES = ("neutral", "friendly", "curt", "apologetic")
_MODELS = ("gpt-4o-mini", "claude-sonnet")
_STACK = (
    "Traceback (most recent call last):\n"
    '  File "task.py", line 18, in summarize_ticket\n'
    '  File "llm.py", line 92, in complete\n'
    "TimeoutError: Model response timed out"
)


def _sentence(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(_WORDS) for _ in range(words)]
    return " ".join(chosen).capitalize() + "."


def _text(rng: random.Random, low: int, high: int) -> str:
    """Sentences adding up to between ``low`` and ``high`` characters."""
    target = rng.randint(low, high)
    parts: list[str] = []
    length = 0
    while length < target:
        sentence = _sentence(rng, rng.randint(6, 18))
        parts.append(sentence)
        length += len(sentence) + 1
    return " ".join(parts)


def _id64(rng: random.Random) -> str:
    return str(rng.getrandbits(63))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _grouped(rows: Iterable[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Rows grouped by ``span_id`` (one group per dataset record), in first-seen order."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get("span_id")), []).append(row)
    return list(groups.values())


def _record_input(rng: random.Random, index: int) -> Any:
    """The task input, in the shapes the API allows: mostly an object, sometimes not."""
    if index % 5 == 3:
        return _text(rng, 200, 900)
    if index % 7 == 5:
        return [_sentence(rng, 10) for _ in range(rng.randint(2, 5))]
    return {
        "ticket": _text(rng, 300, 2500),
        "customer": {
            "tier": rng.choice(("free", "pro", "enterprise")),
            "seats": rng.randint(1, 500),
        },
        "channel": rng.choice(("email", "chat", "phone")),
    }


def _score_metric(row: Mapping[str, Any], span_id: str, trace_id: str) -> dict[str, Any]:
    score = row.get("score_value")
    metric: dict[str, Any] = {
        "id": str(
            uuid.uuid5(uuid.NAMESPACE_OID, f"{span_id}:{row.get('label')}:{row.get('timestamp')}")
        ),
        "span_id": span_id,
        "trace_id": trace_id,
        "label": row.get("label"),
        "metric_type": "score",
        "score_value": score,
        "metric_source": "custom",
        "timestamp_ms": row.get("timestamp"),
        "tags": ["judge:llm"],
        "metadata": {"judge_model": "gpt-4o-mini"},
    }
    if isinstance(score, int | float):
        metric["assessment"] = "pass" if score >= 0.5 else "fail"
        metric["reasoning"] = f"Judged {score:.3f}: the output covers the ticket's main facts."
    else:
        metric["reasoning"] = None
    return metric


def _other_metrics(
    rng: random.Random, index: int, span_id: str, trace_id: str, stamp: int
) -> list[dict[str, Any]]:
    """Categorical, boolean and JSON evals (not analytics rows: they carry no score)."""

    def base(label: str, kind: str, offset: int) -> dict[str, Any]:
        return {
            "id": _uuid(rng),
            "span_id": span_id,
            "trace_id": trace_id,
            "label": label,
            "metric_type": kind,
            "metric_source": "custom",
            "timestamp_ms": stamp + offset,
        }

    metrics = [{**base("exact_match", "boolean", 3), "boolean_value": index % 3 == 0}]
    if index % 2 == 0:
        metrics.append({**base("tone", "categorical", 5), "categorical_value": rng.choice(_TONES)})
    if index % 3 == 1:
        rubric = {"clarity": rng.randint(1, 5), "completeness": rng.randint(1, 5), "max": 5}
        passed = "pass" if rubric["clarity"] + rubric["completeness"] >= 6 else "fail"
        metrics.append({**base("rubric", "json", 7), "json_value": rubric, "assessment": passed})
    return metrics


def _children(rng: random.Random, parent: Mapping[str, Any], question: str) -> list[dict[str, Any]]:
    """A retrieval span and an LLM call inside ``parent``'s time window."""
    start: int = parent["start_ns"]
    duration: float = parent["duration"]
    retrieval_ns = int(duration * rng.uniform(0.05, 0.2))
    common = {
        "trace_id": parent["trace_id"],
        "parent_id": parent["span_id"],
        "status": "ok",
        "dataset_record_id": parent["dataset_record_id"],
        "tags": parent["tags"],
        "eval_metrics": [],
    }
    retrieval_id, call_id = _id64(rng), _id64(rng)
    documents = [
        {"id": f"kb-{rng.randrange(10_000)}", "text": _text(rng, 100, 400)} for _ in range(3)
    ]
    input_tokens, output_tokens = rng.randint(200, 1500), rng.randint(30, 400)
    return [
        {
            **common,
            "id": retrieval_id,
            "span_id": retrieval_id,
            "name": "retrieve_context",
            "start_ns": start + rng.randrange(1_000_000, 5_000_000),
            "duration": float(retrieval_ns),
            "metrics": {},
            "meta": {"input": question[:200], "output": documents},
        },
        {
            **common,
            "id": call_id,
            "span_id": call_id,
            "name": "llm_call",
            "start_ns": start + retrieval_ns + rng.randrange(1_000_000, 5_000_000),
            "duration": float(int(duration * rng.uniform(0.6, 0.9))),
            "metrics": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            "meta": {
                "input": [
                    {"role": "system", "content": "Summarize the support ticket in one sentence."},
                    {"role": "user", "content": question},
                ],
                "output": _text(rng, 100, 600),
            },
        },
    ]


def _record_spans(
    rng: random.Random, experiment: Mapping[str, Any], index: int, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The root span of one dataset record (carrying its evals), then its children."""
    attributes = experiment.get("attributes", {})
    span_id = str(rows[0].get("span_id"))
    trace_id = str(rows[0].get("trace_id"))
    failed = all(row.get("score_value") is None for row in rows)
    created_ns = parse_ns(attributes.get("created_at", "2026-07-20T09:30:04Z"))
    model = (attributes.get("config") or {}).get("model") or rng.choice(_MODELS)
    question = _record_input(rng, index)
    root: dict[str, Any] = {
        "id": span_id,
        "span_id": span_id,
        "trace_id": trace_id,
        "name": "summarize_ticket",
        "start_ns": created_ns + index * 2_000_000_000 + rng.randrange(1, 999_999_999),
        "duration": 30_000_871_000.0
        if failed
        else float(rng.randrange(300_000_000, 4_000_000_000)),
        "status": "error" if failed else "ok",
        "dataset_record_id": f"rec-{_uuid(rng)}",
        "tags": ["env:staging", f"model:{model}", f"experiment_id:{experiment.get('id')}"],
        "metrics": {"input_tokens": rng.randint(100, 2000)},
        "meta": {"input": question, "expected_output": {"summary": _sentence(rng, 8)}},
    }
    metrics = [_score_metric(row, span_id, trace_id) for row in rows]
    if failed:
        root["meta"]["output"] = None
        root["meta"]["error"] = {
            "type": "TimeoutError",
            "message": "Model response timed out",
            "stack": _STACK,
        }
        root["eval_metrics"] = metrics
        return [root]
    output_tokens = rng.randint(20, 600)
    root["metrics"]["output_tokens"] = output_tokens
    root["metrics"]["total_tokens"] = root["metrics"]["input_tokens"] + output_tokens
    root["meta"]["output"] = _text(rng, 150, 1500)
    stamp = max((row.get("timestamp") or 0 for row in rows), default=0)
    root["eval_metrics"] = metrics + _other_metrics(rng, index, span_id, trace_id, stamp)
    text = question if isinstance(question, str) else str(question)
    return [root, *_children(rng, root, text[:1000])] if index % 2 == 0 else [root]


def make_spans(
    experiment: Mapping[str, Any], eval_rows: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Wire-format spans of ``experiment`` (``{"id", "attributes"}``), built around its rows.

    Args:
        experiment: The experiment, in wire format.
        eval_rows: The analytics eval rows of this experiment (``span_id``, ``trace_id``,
            ``label``, ``score_value``, ``timestamp``), as from ``make_eval_events``.

    Returns:
        Root spans in record order, each followed by its child spans (every other record
        has two); the same arguments always give the same spans.
    """
    rng = random.Random(f"spans:{experiment.get('id')}")
    spans: list[dict[str, Any]] = []
    for index, rows in enumerate(_grouped(eval_rows)):
        spans.extend(_record_spans(rng, experiment, index, rows))
    return spans


def make_summary_metrics(
    experiment_id: str, spans: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Experiment-level metrics over ``spans``: the mean score per label, error rate, all passed."""
    scores: dict[str, list[float]] = {}
    stamp = 0
    for span in spans:
        for metric in span.get("eval_metrics", ()):
            stamp = max(stamp, metric.get("timestamp_ms") or 0)
            value = metric.get("score_value")
            if metric.get("metric_type") == "score" and isinstance(value, int | float):
                scores.setdefault(metric["label"], []).append(value)
    roots = [span for span in spans if "parent_id" not in span]
    errors = sum(1 for span in roots if span.get("status") == "error")

    def summary(label: str, kind: str, field: str, value: Any) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"summary:{experiment_id}:{label}")),
            "label": label,
            "metric_type": kind,
            field: value,
            "metric_source": "summary",
            "timestamp_ms": stamp + 60_000,
            "tags": [f"experiment_id:{experiment_id}"],
        }

    metrics = [
        summary(label, "score", "score_value", statistics.fmean(values))
        for label, values in sorted(scores.items())
    ]
    if roots:
        metrics.append(summary("error_rate", "score", "score_value", errors / len(roots)))
    metrics.append(summary("all_passed", "boolean", "boolean_value", errors == 0))
    return metrics
