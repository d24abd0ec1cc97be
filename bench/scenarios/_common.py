"""Arguments and pages shared by the scenarios."""

from __future__ import annotations

from bench._harness import PagesNeeded

PAGE = 5000
EXPERIMENTS, EVENTS = "experiments", "events"


def stream_args(total: int, page_size: int = PAGE, workload: str = "stream") -> list[str]:
    return ["--workload", workload, "--total", str(total), "--page-size", str(page_size)]


def pages(kind: str, total: int, page_size: int = PAGE) -> PagesNeeded:
    return {(kind, total, page_size)}


def aggregate_args(count: int, concurrency: int, repeat: int) -> list[str]:
    return [
        "--workload",
        "aggregate",
        "--count",
        str(count),
        "--concurrency",
        str(concurrency),
        "--repeat",
        str(repeat),
    ]


LATENCY_MS = 20.0
NO_LATENCY: dict[str, object] = {}
WITH_LATENCY: dict[str, object] = {"latency_ms": LATENCY_MS}
