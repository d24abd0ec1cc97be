"""Fake Datadog LLM Observability Experiments API for benchmarks.

Runs in its own process (the runner starts it as a subprocess) so that the server never shares
the measured client's event loop. Everything the hot path returns is encoded once at start-up:

* ``GET /api/v2/llm-obs/v1/experiments`` serves pre-encoded pages. The number of experiments in a
  project is encoded in its id: ``filter[project_id]=bench-100000`` lists 100,000 experiments
  (every size must be announced with ``--totals``; every page size with ``--page-sizes``).
* ``POST /api/v2/llm-obs/v1/experimentation/analytics`` answers a small pre-encoded result.
* ``--latency MS`` delays every API response; ``--rate-limit L/P`` puts a fixed-window limiter of
  ``L`` requests per ``P`` seconds in front of both endpoints (429, empty body, ``x-ratelimit-*``
  headers, ``x-ratelimit-reset`` with decimals). The window is anchored at the first request
  after start-up or after ``POST /_bench/reset``.
* ``GET /_bench/stats`` returns ``{"requests", "throttled", "bytes"}`` counted since the last
  ``POST /_bench/reset``.

Binds 127.0.0.1 only and prints ``PORT <n>`` on stdout once every page is encoded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import random
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

LIST_PATH = "/api/v2/llm-obs/v1/experiments"
ANALYTICS_PATH = "/api/v2/llm-obs/v1/experimentation/analytics"
CONTENT_TYPE = "application/vnd.api+json"
MAX_PAGE = 5000
STATUSES = ("running", "completed", "failed", "interrupted")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b", "mistral-large")
EVALS = ("faithfulness", "answer_relevancy", "toxicity", "exact_match", "latency_ok")
BRANCHES = ("main", "release/2026.07", "feature/rerank", "feature/prompt-v4", "hotfix/timeouts")
ERRORS = (
    "TimeoutError: task exceeded 600s",
    "RateLimitError: provider returned 429",
    "ValueError: dataset record 1842 has no input",
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def encode_cursor(total: int, page_size: int, offset: int) -> str:
    raw = f"{total}:{page_size}:{offset}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        total, size, offset = (int(part) for part in raw.split(":"))
    except ValueError:
        return None
    return total, size, offset


def encode_pages(items: list[dict[str, Any]], total: int, page_size: int) -> list[bytes]:
    pages = []
    for offset in range(0, max(total, 1), page_size):
        end = min(offset + page_size, total)
        body: dict[str, Any] = {"data": items[offset:end]}
        if end < total:
            body["meta"] = {"after": encode_cursor(total, page_size, end)}
        pages.append(orjson.dumps(body))
    return pages


def analytics_body() -> bytes:
    rng = random.Random(99)
    values = [
        {
            "by": {"experiment_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))},
            "metrics": {"avg": round(rng.random(), 4)},
        }
        for _ in range(8)
    ]
    body = {
        "data": {
            "id": "00000000-0000-0000-0000-000000000001",
            "type": "experimentation",
            "attributes": {"hit_count": 1500, "result": {"values": values}},
        }
    }
    return orjson.dumps(body)


def error_body(status: int, title: str, detail: str) -> bytes:
    return orjson.dumps({"errors": [{"status": str(status), "title": title, "detail": detail}]})


class FakeDatadog:
    def __init__(
        self,
        totals: list[int],
        page_sizes: list[int],
        latency: float,
        rate_limit: tuple[int, float] | None,
        seed: int,
    ) -> None:
        items = make_experiments(max(totals), seed)
        self.pages: dict[tuple[int, int], list[bytes]] = {
            (total, size): encode_pages(items, total, size)
            for total in totals
            for size in page_sizes
        }
        del items
        self.analytics_page = analytics_body()
        self.latency = latency
        self.rate_limit = rate_limit
        self.requests = 0
        self.throttled = 0
        self.bytes = 0
        self.window_start: float | None = None
        self.window_count = 0
        limit, period = rate_limit if rate_limit else (1_000_000, 60.0)
        self.base_headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-period": f"{period:g}",
            "x-ratelimit-name": "llm_obs_experiments_api",
        }

    # -- helpers ---------------------------------------------------------------------------
    def _headers(self, remaining: int, reset: float) -> dict[str, str]:
        headers = dict(self.base_headers)
        headers["x-ratelimit-remaining"] = str(remaining)
        headers["x-ratelimit-reset"] = f"{reset:.3f}"
        return headers

    def _admit(self) -> tuple[bool, int, float]:
        """Fixed window limiter: (admitted, remaining, seconds until the window resets)."""
        if self.rate_limit is None:
            return True, 999_999, 60.0
        limit, period = self.rate_limit
        now = time.monotonic()
        if self.window_start is None:
            self.window_start = now
        elapsed = now - self.window_start
        if elapsed >= period:
            self.window_start += math.floor(elapsed / period) * period
            self.window_count = 0
            elapsed = now - self.window_start
        reset = max(period - elapsed, 0.001)
        if self.window_count >= limit:
            return False, 0, reset
        self.window_count += 1
        return True, limit - self.window_count, reset

    def _respond(self, status: int, body: bytes, remaining: int, reset: float) -> web.Response:
        self.bytes += len(body)
        return web.Response(
            status=status,
            body=body,
            headers=self._headers(remaining, reset),
            content_type=CONTENT_TYPE if body else None,
        )

    async def _gate(self, request: web.Request) -> web.Response | tuple[int, float]:
        self.requests += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if "DD-API-KEY" not in request.headers or "DD-APPLICATION-KEY" not in request.headers:
            return self._respond(403, error_body(403, "Forbidden", "missing keys"), 0, 60.0)
        admitted, remaining, reset = self._admit()
        if not admitted:
            self.throttled += 1
            return web.Response(status=429, body=b"", headers=self._headers(0, reset))
        return remaining, reset

    # -- handlers --------------------------------------------------------------------------
    async def list_experiments(self, request: web.Request) -> web.Response:
        gate = await self._gate(request)
        if isinstance(gate, web.Response):
            return gate
        remaining, reset = gate
        query = request.rel_url.query
        project = query.get("filter[project_id]", "")
        try:
            total = int(project.removeprefix("bench-"))
            size = min(int(query.get("page[limit]", MAX_PAGE)), MAX_PAGE)
        except ValueError:
            detail = "filter[project_id] must be bench-<total>, page[limit] an integer"
            return self._respond(400, error_body(400, "Bad Request", detail), remaining, reset)
        offset = 0
        cursor = query.get("page[cursor]")
        if cursor is not None:
            decoded = decode_cursor(cursor)
            if decoded is None or decoded[:2] != (total, size):
                return self._respond(
                    400, error_body(400, "Bad Request", "invalid cursor"), remaining, reset
                )
            offset = decoded[2]
        pages = self.pages.get((total, size))
        if pages is None or offset % size or offset // size >= len(pages):
            detail = f"no pre-encoded pages for total={total} page[limit]={size}"
            return self._respond(400, error_body(400, "Bad Request", detail), remaining, reset)
        return self._respond(200, pages[offset // size], remaining, reset)

    async def analytics(self, request: web.Request) -> web.Response:
        body = await request.read()
        gate = await self._gate(request)
        if isinstance(gate, web.Response):
            return gate
        remaining, reset = gate
        if b'"experimentation"' not in body or b'"compute"' not in body:
            detail = "body must be a JSON:API experimentation analytics request"
            return self._respond(400, error_body(400, "Bad Request", detail), remaining, reset)
        return self._respond(200, self.analytics_page, remaining, reset)

    async def reset(self, request: web.Request) -> web.Response:
        self.requests = self.throttled = self.bytes = 0
        self.window_start = None
        self.window_count = 0
        return web.Response(body=b"{}", content_type="application/json")

    async def stats(self, request: web.Request) -> web.Response:
        body = {"requests": self.requests, "throttled": self.throttled, "bytes": self.bytes}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get(LIST_PATH, self.list_experiments)
        app.router.add_post(ANALYTICS_PATH, self.analytics)
        app.router.add_post("/_bench/reset", self.reset)
        app.router.add_get("/_bench/stats", self.stats)
        return app


def parse_rate_limit(text: str) -> tuple[int, float]:
    limit, _, period = text.partition("/")
    return int(limit), float(period or "1")


async def serve(args: argparse.Namespace) -> None:
    fake = FakeDatadog(
        totals=[int(x) for x in args.totals.split(",")],
        page_sizes=[int(x) for x in args.page_sizes.split(",")],
        latency=args.latency / 1000.0,
        rate_limit=parse_rate_limit(args.rate_limit) if args.rate_limit else None,
        seed=args.seed,
    )
    runner = web.AppRunner(fake.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
    await site.start()
    port = int(runner.addresses[0][1])
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--totals", default="100000", help="comma-separated project sizes")
    parser.add_argument("--page-sizes", default="5000", help="comma-separated page[limit]s")
    parser.add_argument("--latency", type=float, default=0.0, help="added latency in ms")
    parser.add_argument("--rate-limit", default="", help="L/P: L requests per P seconds")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
