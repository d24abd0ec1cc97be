"""Fake Datadog LLM Observability API for benchmarks, in its own process.

The runner starts it as a subprocess (``python -m bench.server``) so that the server never shares
the measured client's event loop. Everything the hot path returns is encoded once at start-up:

* ``GET /api/v2/llm-obs/v1/experiments`` serves pre-encoded pages. The number of experiments in a
  project is encoded in its id: ``filter[project_id]=bench-100000`` lists 100,000 experiments.
  Every ``total:page_size`` pair is announced with ``--experiment-pages``.
* ``GET /api/v2/llm-obs/v3/experiments/bench-<total>/events`` serves pre-encoded pages of
  realistic spans (``--event-pages total:page_size,...``); ``meta.after`` is ``null`` on the last
  page, the summary metrics come on every page.
* ``POST /api/v2/llm-obs/v1/experimentation/analytics`` answers a small pre-encoded result.
* ``POST /_bench/config`` with ``{"latency_ms", "rate_limit": "L/P" | null, "integer_reset"}``
  sets the added latency and a fixed-window limiter of ``L`` requests per ``P`` seconds in front
  of every API route (429, empty body, ``x-ratelimit-*`` headers). ``x-ratelimit-reset`` is
  rounded up to whole seconds (at least 1) like Datadog with ``integer_reset``, else sent with
  three decimals. The call also resets the counters and anchors the window at the next request.
* ``GET /_bench/stats`` returns ``{"requests", "throttled", "bytes"}`` since the last config.

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
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from bench._data import make_experiments, make_spans, summary_metrics

LIST_PATH = "/api/v2/llm-obs/v1/experiments"
EVENTS_PATH = "/api/v2/llm-obs/v3/experiments/{experiment_id}/events"
ANALYTICS_PATH = "/api/v2/llm-obs/v1/experimentation/analytics"
CONTENT_TYPE = "application/vnd.api+json"
MAX_PAGE = 5000

Pages = dict[tuple[int, int], list[bytes]]


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


def experiment_pages(items: list[dict[str, Any]], total: int, page_size: int) -> list[bytes]:
    pages = []
    for offset in range(0, max(total, 1), page_size):
        end = min(offset + page_size, total)
        body: dict[str, Any] = {"data": items[offset:end]}
        if end < total:
            body["meta"] = {"after": encode_cursor(total, page_size, end)}
        pages.append(orjson.dumps(body))
    return pages


def event_pages(spans: list[dict[str, Any]], total: int, page_size: int) -> list[bytes]:
    experiment_id = f"bench-{total}"
    summary = summary_metrics(experiment_id)
    pages = []
    for offset in range(0, max(total, 1), page_size):
        end = min(offset + page_size, total)
        after = encode_cursor(total, page_size, end) if end < total else None
        body = {
            "data": {
                "id": experiment_id,
                "type": "experiment_events",
                "attributes": {"spans": spans[offset:end], "summary_metrics": summary},
            },
            "meta": {"after": after},
        }
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


def parse_pairs(text: str) -> list[tuple[int, int]]:
    """``"100000:5000,10000:5000"`` -> ``[(100000, 5000), (10000, 5000)]``."""
    pairs = []
    for part in filter(None, text.split(",")):
        total, _, size = part.partition(":")
        pairs.append((int(total), int(size or MAX_PAGE)))
    return pairs


Items = list[dict[str, Any]]


def encode_all(
    pairs: list[tuple[int, int]],
    make: Callable[[int], Items],
    encode: Callable[[Items, int, int], list[bytes]],
) -> Pages:
    """Every ``(total, page_size)`` pair's pages, from one list of the largest total."""
    if not pairs:
        return {}
    items = make(max(total for total, _ in pairs))
    return {(total, size): encode(items, total, size) for total, size in pairs}


class FakeDatadog:
    def __init__(self, experiments: Pages, events: Pages) -> None:
        self.experiment_pages = experiments
        self.event_pages = events
        self.analytics_page = analytics_body()
        self.configure({})

    def configure(self, config: dict[str, Any]) -> None:
        self.latency = float(config.get("latency_ms") or 0.0) / 1000
        rate = config.get("rate_limit")
        self.rate_limit = parse_rate_limit(rate) if rate else None
        self.integer_reset = bool(config.get("integer_reset"))
        self.requests = self.throttled = self.bytes = 0
        self.window_start: float | None = None
        self.window_count = 0
        limit, period = self.rate_limit or (1_000_000, 60.0)
        self.base_headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-period": f"{period:g}",
            "x-ratelimit-name": "llm_obs_experiments_api",
        }

    # -- helpers ---------------------------------------------------------------------------
    def _headers(self, remaining: int, reset: float) -> dict[str, str]:
        headers = dict(self.base_headers)
        headers["x-ratelimit-remaining"] = str(remaining)
        if self.integer_reset:  # Datadog: whole seconds (recorded cassettes), never 0
            headers["x-ratelimit-reset"] = str(max(1, math.ceil(reset)))
        else:
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

    def _page(
        self, pages: Pages, total_text: str, query: Any, gate: tuple[int, float]
    ) -> web.Response:
        remaining, reset = gate
        try:
            total = int(total_text.removeprefix("bench-"))
            size = min(int(query.get("page[limit]", MAX_PAGE)), MAX_PAGE)
        except ValueError:
            detail = "the id must be bench-<total>, page[limit] an integer"
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
        encoded = pages.get((total, size))
        if encoded is None or offset % size or offset // size >= len(encoded):
            detail = f"no pre-encoded pages for total={total} page[limit]={size}"
            return self._respond(400, error_body(400, "Bad Request", detail), remaining, reset)
        return self._respond(200, encoded[offset // size], remaining, reset)

    # -- handlers --------------------------------------------------------------------------
    async def list_experiments(self, request: web.Request) -> web.Response:
        gate = await self._gate(request)
        if isinstance(gate, web.Response):
            return gate
        query = request.rel_url.query
        return self._page(self.experiment_pages, query.get("filter[project_id]", ""), query, gate)

    async def list_events(self, request: web.Request) -> web.Response:
        gate = await self._gate(request)
        if isinstance(gate, web.Response):
            return gate
        experiment_id = request.match_info["experiment_id"]
        return self._page(self.event_pages, experiment_id, request.rel_url.query, gate)

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

    async def set_config(self, request: web.Request) -> web.Response:
        self.configure(orjson.loads(await request.read() or b"{}"))
        return web.Response(body=b"{}", content_type="application/json")

    async def stats(self, request: web.Request) -> web.Response:
        body = {"requests": self.requests, "throttled": self.throttled, "bytes": self.bytes}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get(LIST_PATH, self.list_experiments)
        app.router.add_get(EVENTS_PATH, self.list_events)
        app.router.add_post(ANALYTICS_PATH, self.analytics)
        app.router.add_post("/_bench/config", self.set_config)
        app.router.add_get("/_bench/stats", self.stats)
        return app


def parse_rate_limit(text: str) -> tuple[int, float]:
    limit, _, period = text.partition("/")
    return int(limit), float(period or "1")


async def serve(args: argparse.Namespace) -> None:
    fake = FakeDatadog(
        experiments=encode_all(
            parse_pairs(args.experiment_pages),
            lambda n: make_experiments(n, args.seed),
            experiment_pages,
        ),
        events=encode_all(parse_pairs(args.event_pages), make_spans, event_pages),
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
    parser.add_argument(
        "--experiment-pages", default="100000:5000", help="comma-separated total:page_size"
    )
    parser.add_argument("--event-pages", default="", help="comma-separated total:page_size")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
