"""Tiny raw HTTP servers on 127.0.0.1 for the hostile-server tests (issue 10).

Not the project's fake: a few dozen lines of ``asyncio`` that speak just enough HTTP/1.1
(keep-alive, ``Content-Length`` bodies) to answer each request with whatever a test scripts,
including what no well-behaved server sends: silence, a reset, a malformed status line, a body
cut short, a gzip bomb. Every request is recorded with its arrival time and its connection,
and connections are counted as the client opens and closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import time
import warnings
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ddllmobs_async as dd

API_KEY = "hostile-api-key-0f3c9a7e51"
APP_KEY = "hostile-app-key-b8d2e4a6c0"
EXPERIMENTS_PATH = "/api/v2/llm-obs/v1/experiments"
ANALYTICS_PATH = "/api/v2/llm-obs/v1/experimentation/analytics"


# --- what a request looked like -------------------------------------------------------------


@dataclass
class Request:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    at: float
    connection: int

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.target).query, keep_blank_values=True)

    def params(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]

    def param(self, name: str) -> str | None:
        values = self.params(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


# --- what the server answers ----------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A complete HTTP answer (``Content-Length`` added unless given); ``delay`` before it."""

    status: int = 200
    body: bytes = b"{}"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    close: bool = False


@dataclass(frozen=True)
class Silence:
    """Never answer: hold the connection until the client gives up and closes it."""


@dataclass(frozen=True)
class Reset:
    """Drop the connection without a word (TCP reset)."""


@dataclass(frozen=True)
class Raw:
    """Write these exact bytes, then close the connection."""

    data: bytes


@dataclass(frozen=True)
class Truncated:
    """Promise ``Content-Length`` of ``len(body) + missing`` bytes, send ``body``, close."""

    body: bytes = b'{"data": ['
    status: int = 200
    missing: int = 100
    headers: Mapping[str, str] = field(default_factory=dict)


Answer = Reply | Silence | Reset | Raw | Truncated
Script = Callable[[Request], Answer | Awaitable[Answer]]


def in_order(*answers: Answer) -> Script:
    """Answer the i-th request with ``answers[i]``; the last one repeats for ever."""
    served = 0

    def script(request: Request) -> Answer:
        nonlocal served
        served += 1
        return answers[min(served, len(answers)) - 1]

    return script


class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 whose every answer comes from ``script``.

    ``async with RawServer(script) as server:`` then ``server.url`` is the base URL.
    """

    def __init__(self, script: Script | Sequence[Answer] = (Reply(),)) -> None:
        self.script: Script = in_order(*script) if isinstance(script, Sequence) else script
        self.requests: list[Request] = []
        self.connections_opened = 0
        self.connections_closed = 0
        self.closed_by_client = 0
        self.bytes_written = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        return self.connections_opened - self.connections_closed

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        await self._server.wait_closed()

    async def requests_during(self, seconds: float) -> int:
        """How many requests arrive during the next ``seconds``.

        Requests already on the wire (written before the call raised, not yet read by this
        in-process server) are let in first: they were not sent afterwards.
        """
        await asyncio.sleep(0.01)
        before = len(self.requests)
        await asyncio.sleep(seconds)
        return len(self.requests) - before

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections_opened += 1
        number = self.connections_opened
        try:
            while (request := await _read_request(reader, number)) is not None:
                self.requests.append(request)
                answer = self.script(request)
                if not isinstance(answer, Answer):
                    answer = await answer
                if not await self._answer(answer, reader, writer):
                    return
            self.closed_by_client += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_by_client += 1
        except asyncio.CancelledError:
            pass  # shut down by __aexit__: end quietly (asyncio logs a cancelled handler)
        finally:
            self.connections_closed += 1
            self._writers.discard(writer)
            writer.transport.abort()
            self._tasks.discard(task)

    async def _answer(
        self, answer: Answer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Send ``answer``; False when the connection is to end."""
        if isinstance(answer, Reply):
            if answer.delay:
                await asyncio.sleep(answer.delay)
            await self._write(writer, _encode(answer.status, answer.headers, answer.body))
            return not answer.close
        if isinstance(answer, Silence):
            while await reader.read(65536):
                pass
            self.closed_by_client += 1
            return False
        if isinstance(answer, Reset):
            writer.transport.abort()
            return False
        if isinstance(answer, Raw):
            await self._write(writer, answer.data)
            await asyncio.sleep(0.01)
            return False
        length = len(answer.body) + answer.missing
        head = _encode(answer.status, {"Content-Length": str(length), **answer.headers}, b"")
        await self._write(writer, head + answer.body)
        await asyncio.sleep(0.01)
        return False

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        self.bytes_written += len(data)
        await writer.drain()


async def _read_request(reader: asyncio.StreamReader, connection: int) -> Request | None:
    line = await reader.readline()
    if not line:
        return None
    method, target, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return Request(method, target, headers, body, time.monotonic(), connection)


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}


def _encode(status: int, headers: Mapping[str, str], body: bytes) -> bytes:
    lower = {name.lower() for name in headers}
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    if "content-length" not in lower:
        lines.append(f"Content-Length: {len(body)}")
    if "content-type" not in lower:
        lines.append("Content-Type: application/json")
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --- bodies ---------------------------------------------------------------------------------

CREATED_AT = "2026-07-20T09:30:04.928462Z"


def experiment(identifier: str, **attributes: Any) -> dict[str, Any]:
    """One JSON:API experiment resource with every required attribute."""
    return {
        "id": identifier,
        "type": "experiments",
        "attributes": {
            "name": f"run {identifier}",
            "description": "",
            "project_id": "p1",
            "dataset_id": "d1",
            "config": {},
            "metadata": {},
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            **attributes,
        },
    }


def page(ids: Sequence[str], after: str | None = None) -> bytes:
    """A list-experiments answer with these experiment ids and ``meta.after``."""
    meta: dict[str, Any] = {} if after is None else {"after": after}
    return json.dumps({"data": [experiment(i) for i in ids], "meta": meta}).encode()


def aggregate(hit_count: Any = 1, buckets: Sequence[dict[str, Any]] = ()) -> bytes:
    """An analytics answer."""
    return json.dumps(
        {
            "data": {
                "id": "r1",
                "type": "experimentation",
                "attributes": {"hit_count": hit_count, "result": {"values": list(buckets)}},
            }
        }
    ).encode()


def rate_limit(
    limit: object = None, remaining: object = None, reset: object = None, period: object = None
) -> dict[str, str]:
    """``X-RateLimit-*`` headers (only the ones given)."""
    values = {"limit": limit, "remaining": remaining, "reset": reset, "period": period}
    return {f"X-RateLimit-{k.title()}": str(v) for k, v in values.items() if v is not None}


@functools.cache
def gzip_bomb(decoded_size: int) -> bytes:
    """A gzip body that inflates to ``decoded_size`` bytes of a valid (whitespace-padded) page."""
    head, tail = b'{"data": [], "meta": {}', b"}"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunks = [compressor.compress(head)]
    padding = decoded_size - len(head) - len(tail)
    block = b" " * (1 << 20)
    while padding > 0:
        chunks.append(compressor.compress(block[: min(padding, len(block))]))
        padding -= len(block)
    chunks.append(compressor.compress(tail))
    chunks.append(compressor.flush())
    return b"".join(chunks)


def deep_json(depth: int) -> bytes:
    """A JSON document nested ``depth`` arrays deep."""
    return b"[" * depth + b"]" * depth


# --- client-side hygiene --------------------------------------------------------------------


@dataclass
class Hygiene:
    """What went wrong silently: loop exception-handler calls and warnings."""

    loop_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return self.loop_errors + self.warnings


@contextlib.contextmanager
def watch_hygiene() -> Iterator[Hygiene]:
    """Record "Unclosed client session", "Task was destroyed", unawaited coroutines, etc.

    Collects garbage on the way out so anything dropped inside the block reports here.
    """
    seen = Hygiene()
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def record(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        seen.loop_errors.append(str(context.get("message")) + " " + repr(context.get("exception")))

    loop.set_exception_handler(record)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield seen
            finally:
                gc.collect()
                seen.warnings.extend(f"{w.category.__name__}: {w.message}" for w in caught)
    finally:
        loop.set_exception_handler(previous)


def elapsed_since(start: float) -> float:
    return time.monotonic() - start


@contextlib.asynccontextmanager
async def serving(
    script: Script | Sequence[Answer], **options: Any
) -> AsyncIterator[tuple[RawServer, dd.LLMObsClient]]:
    """A raw server and a client bound to it (closed on the way out)."""
    async with RawServer(script) as server:
        client = dd.LLMObsClient(API_KEY, APP_KEY, base_url=server.url, **options)
        try:
            yield server, client
        finally:
            await client.close()
