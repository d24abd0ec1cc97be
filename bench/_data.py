"""The fake's data: realistic experiments and experiment spans, deterministic per seed.

Sizes follow what Datadog sends: every documented experiment attribute set, nanosecond RFC 3339
timestamps; spans with inputs and outputs from a few hundred bytes to a few KB, child spans,
some errors, and eval metrics of every type (score, categorical, boolean, json).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

STATUSES = ("running", "completed", "failed", "interrupted")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b", "mistral-large")
EVALS = ("faithfulness", "answer_relevancy", "toxicity", "exact_match", "latency_ok")
BRANCHES = ("main", "release/2026.07", "feature/rerank", "feature/prompt-v4", "hotfix/timeouts")
ERRORS = (
    "TimeoutError: task exceeded 600s",
    "RateLimitError: provider returned 429",
    "ValueError: dataset record 1842 has no input",
)
WORDS = [
    "the",
    "customer",
    "invoice",
    "refund",
    "charged",
    "twice",
    "account",
    "support",
    "ticket",
    "order",
    "shipping",
    "delay",
    "password",
    "reset",
    "login",
    "error",
    "payment",
    "card",
    "subscription",
    "cancel",
    "upgrade",
    "plan",
    "billing",
    "address",
    "please",
    "thanks",
    "help",
    "issue",
    "resolved",
    "escalate",
    "agent",
    "summary",
    "policy",
    "return",
    "window",
    "days",
    "product",
    "warranty",
    "replacement",
    "tracking",
    "number",
    "delivered",
    "damaged",
    "package",
    "contact",
    "email",
]
SPAN_NAMES = ("summarize_ticket", "classify_intent", "draft_reply")
CHILD_NAMES = ("retrieve_context", "llm_call", "rerank", "tool:lookup_order")
CATEGORIES = ("billing", "shipping", "account", "product", "other")
EPOCH_NS = 1_787_234_601_123_456_789


def rfc3339_nanos(moment: datetime, nanos: int) -> str:
    """``2026-07-20T09:30:04.928462935Z``: what the API sends (nanosecond fraction, ``Z``)."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def make_experiments(count: int, seed: int = 1234) -> list[dict[str, Any]]:
    """``count`` realistic wire experiments, newest first, every documented attribute set."""
    rng = random.Random(seed)

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    projects = [uid() for _ in range(4)]
    datasets = [uid() for _ in range(32)]
    start = datetime(2026, 7, 20, 9, 30, 4, tzinfo=UTC)
    items: list[dict[str, Any]] = []
    ids: list[str] = []
    for i in range(count):
        exp_id = uid()
        created = start - timedelta(seconds=37 * i + rng.randrange(30))
        updated = created + timedelta(seconds=rng.randrange(1, 7200))
        status = rng.choices(STATUSES, weights=(10, 80, 7, 3))[0]
        pipeline = f"pipeline-{rng.randrange(40):02d}"
        model = rng.choice(MODELS)
        evals = {
            name: {
                "avg": round(rng.random(), 4),
                "p50": round(rng.random(), 4),
                "p90": round(rng.random(), 4),
                "count": rng.randrange(50, 5000),
            }
            for name in rng.sample(EVALS, 3)
        }
        items.append(
            {
                "id": exp_id,
                "type": "experiments",
                "attributes": {
                    "aggregate_data": {
                        "evals": evals,
                        "cost": {
                            "total_usd": round(rng.random() * 40, 4),
                            "input_tokens": rng.randrange(10_000, 5_000_000),
                            "output_tokens": rng.randrange(1_000, 800_000),
                        },
                        "error_rate": round(rng.random() * 0.1, 4),
                        "record_count": rng.randrange(10, 5000),
                    },
                    "config": {
                        "model": model,
                        "temperature": rng.choice((0.0, 0.2, 0.7, 1.0)),
                        "max_tokens": rng.choice((256, 1024, 4096)),
                        "prompt_version": rng.randrange(1, 12),
                        "retrieval": {
                            "top_k": rng.choice((3, 5, 10)),
                            "rerank": rng.random() < 0.5,
                        },
                    },
                    "created_at": rfc3339_nanos(created, rng.randrange(1_000_000_000)),
                    "dataset_id": rng.choice(datasets),
                    "dataset_version": rng.randrange(1, 30),
                    "deleted_at": None,
                    "description": "" if rng.random() < 0.2 else f"{model} on {pipeline}, run {i}",
                    "error": rng.choice(ERRORS) if status == "failed" else None,
                    "experiment": pipeline,
                    "metadata": {
                        "commit": f"{rng.getrandbits(40):010x}",
                        "branch": rng.choice(BRANCHES),
                        "ci": rng.random() < 0.7,
                        "tags": [f"team:{rng.choice(('search', 'chat', 'agents'))}", "env:ci"],
                    },
                    "name": f"{pipeline}-{model}-{i}",
                    "parent_experiment_id": rng.choice(ids[-50:])
                    if ids and rng.random() < 0.6
                    else None,
                    "project_id": rng.choice(projects),
                    "run_count": rng.randrange(1, 6),
                    "status": status,
                    "updated_at": rfc3339_nanos(updated, rng.randrange(1_000_000_000)),
                },
            }
        )
        ids.append(exp_id)
    return items


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randrange(low, high)))


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _eval_metrics(rng: random.Random, span_id: str, trace_id: str, ts_ms: int) -> list[Any]:
    """One eval of each type, as the examples in ``../shared/api/examples/`` show them."""
    base = {"span_id": span_id, "trace_id": trace_id, "metric_source": "custom"}
    score = round(rng.random(), 4)
    return [
        {
            **base,
            "id": _uid(rng),
            "label": "faithfulness",
            "metric_type": "score",
            "score_value": score,
            "assessment": "pass" if score >= 0.5 else "fail",
            "reasoning": _text(rng, 8, 40),
            "timestamp_ms": ts_ms + rng.randrange(1, 5000),
            "tags": ["judge:llm"],
            "metadata": {"judge_model": "gpt-4o-mini"},
        },
        {
            **base,
            "id": _uid(rng),
            "label": "intent",
            "metric_type": "categorical",
            "categorical_value": rng.choice(CATEGORIES),
            "timestamp_ms": ts_ms + rng.randrange(1, 5000),
        },
        {
            **base,
            "id": _uid(rng),
            "label": "exact_match",
            "metric_type": "boolean",
            "boolean_value": rng.random() < 0.4,
            "reasoning": None,
            "timestamp_ms": ts_ms + rng.randrange(1, 5000),
        },
        {
            **base,
            "id": _uid(rng),
            "label": "rubric",
            "metric_type": "json",
            "json_value": {"clarity": rng.randrange(1, 6), "tone": rng.randrange(1, 6)},
            "timestamp_ms": ts_ms + rng.randrange(1, 5000),
        },
    ]


def make_spans(count: int, seed: int = 4321) -> list[dict[str, Any]]:
    """``count`` wire spans of one experiment: root spans with evals, ~30% child spans."""
    rng = random.Random(seed)
    spans: list[dict[str, Any]] = []
    root: dict[str, Any] = {}
    for i in range(count):
        span_id = str(4_473_290_817_762_350_291 + i)
        start_ns = EPOCH_NS + i * 1_733_000_017 + rng.randrange(1_000_000)
        child = bool(root) and rng.random() < 0.3
        trace_id = root["trace_id"] if child else f"{rng.getrandbits(128):032x}"
        failed = rng.random() < 0.05
        meta: dict[str, Any] = {
            "input": {"ticket": _text(rng, 10, 150), "customer_tier": rng.choice(("free", "pro"))},
            "output": _text(rng, 5, 120),
        }
        if not child:
            meta["expected_output"] = {"summary": _text(rng, 5, 60)}
        if failed:
            meta["error"] = {
                "type": "TimeoutError",
                "message": "provider did not answer within 30 s",
                "stack": "Traceback (most recent call last):\n" + _text(rng, 20, 80),
            }
        span: dict[str, Any] = {
            "id": span_id,
            "span_id": span_id,
            "trace_id": trace_id,
            "name": rng.choice(CHILD_NAMES if child else SPAN_NAMES),
            "start_ns": start_ns,
            "duration": float(rng.randrange(50_000_000, 30_000_000_000)),
            "status": "error" if failed else "ok",
            "dataset_record_id": f"rec-{_uid(rng)}",
            "tags": ["env:staging", f"model:{rng.choice(MODELS)}"],
            "metrics": {
                "input_tokens": float(rng.randrange(50, 4000)),
                "output_tokens": float(rng.randrange(10, 800)),
            },
            "meta": meta,
        }
        if child:
            span["parent_id"] = root["span_id"]
        else:
            span["eval_metrics"] = _eval_metrics(rng, span_id, trace_id, start_ns // 1_000_000)
            root = span
        spans.append(span)
    return spans


def summary_metrics(experiment_id: str) -> list[dict[str, Any]]:
    """Experiment-level metrics, repeated on every page (one reading the reference allows)."""
    tags = [f"experiment_id:{experiment_id}"]
    common = {"metric_source": "summary", "timestamp_ms": 1_787_234_791_042, "tags": tags}
    return [
        {
            **common,
            "id": "b1f0c6f2-3d0e-4a57-9b8e-0c1f5a7d9e21",
            "label": "accuracy",
            "metric_type": "score",
            "score_value": 0.6667,
        },
        {
            **common,
            "id": "5a2d8c44-71b9-4e0f-8d6a-2b9e3f0c7a18",
            "label": "all_passed",
            "metric_type": "boolean",
            "boolean_value": False,
        },
    ]
