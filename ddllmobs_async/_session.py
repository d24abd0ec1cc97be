"""The session manager: the only code that touches aiohttp.

It owns one ``ClientSession`` per client (created lazily inside the running loop), bounds the
requests in flight with a semaphore, passes every attempt through the rate-limit gate and runs
the retry loop. Bodies are read completely before the connection is released, so nothing
upstream ever holds an open response.
"""

from __future__ import annotations

import asyncio
import platform
import random
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp

from ddllmobs_async._constants import DNS_CACHE_TTL, KEEPALIVE_TIMEOUT
from ddllmobs_async._converters import dumps
from ddllmobs_async._ratelimit import RateLimitGate, WaitTooLong
from ddllmobs_async._responses import DeferredError, interpret_response
from ddllmobs_async._retry import RetryPolicy, retry_call
from ddllmobs_async._version import __version__
from ddllmobs_async.errors import (
    APIConnectionError,
    APITimeoutError,
    RateLimitError,
    ResponseValidationError,
)

USER_AGENT = (
    f"ddllmobs-async/{__version__} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)

QueryParams = Sequence[tuple[str, str]]
T = TypeVar("T")
_JSON_CONTENT: Mapping[str, str] = {"Content-Type": "application/json"}


class SessionManager:
    """Connection pooling, rate-limit gate, concurrency bound and retries for one client."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        app_key: str,
        timeout: float,
        max_concurrency: int,
        policy: RetryPolicy,
        session: aiohttp.ClientSession | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._base_url = base_url
        self._headers = {
            "DD-API-KEY": api_key,
            "DD-APPLICATION-KEY": app_key,
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
        }
        self._json_headers = {**self._headers, **_JSON_CONTENT}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_concurrency = max_concurrency
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finalizer: (
            weakref.finalize[[aiohttp.ClientSession, asyncio.AbstractEventLoop], SessionManager]
            | None
        ) = None
        self._sleep = sleep
        self._rng = random.Random()
        self.policy = policy
        self.gate = RateLimitGate(sleep=sleep)
        self._waits = _WaitTally()
        # Bound once (neither refers back to this manager, so no reference cycle): a bound
        # method made per request would be one more object alive across its awaits.
        self._on_wait = self._waits.add
        self._on_rate_limited = self.gate.hold

    @property
    def total_wait(self) -> float:
        """Seconds spent so far in retry sleeps and rate-limit holds."""
        return self._waits.seconds

    def __repr__(self) -> str:
        return f"SessionManager(base_url={self._base_url!r})"

    @property
    def closed(self) -> bool:
        """True when there is no open session (never opened, or closed)."""
        return self._session is None or self._session.closed

    def _client_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and self._owns_session and not self._session.closed:
            if loop is not self._loop:
                raise RuntimeError(
                    "this LLMObsClient's connections belong to another event loop: close it "
                    "(`async with` / `await client.close()`) in the loop that used it, or "
                    "create one client per loop"
                )
            return self._session
        if self._session is None or (self._owns_session and self._session.closed):
            # Born inside the loop that uses it. A client closed in one asyncio.run() and
            # used again in the next also needs a semaphore of the new loop.
            if self._loop is not None and loop is not self._loop:
                self._semaphore = asyncio.Semaphore(self._max_concurrency)
            self._loop = loop
            connector = aiohttp.TCPConnector(
                limit=self._max_concurrency,
                limit_per_host=self._max_concurrency,
                ttl_dns_cache=DNS_CACHE_TTL,
                keepalive_timeout=KEEPALIVE_TIMEOUT,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=self._timeout,
                raise_for_status=False,
            )
            # aiohttp silently resends a GET once when a kept-alive connection drops; our
            # retry loop is the only retry layer, so every attempt is counted and paced.
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
            self._owns_session = True
            # Dropped without close() while its loop runs: close it then, not warn later.
            self._finalizer = weakref.finalize(self, _close_abandoned, session, loop)
            self._finalizer.atexit = False
        return self._session

    async def close(self) -> None:
        """Close the session if this manager created it; a caller's session is left open."""
        if self._session is not None and self._owns_session:
            session, self._session = self._session, None
            if self._finalizer is not None:
                self._finalizer.detach()
            await session.close()

    def request_json(
        self,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: QueryParams | None = None,
        body: Any = None,
    ) -> Awaitable[T]:
        """Send a request (with retries); awaiting it gives ``parse`` of its decoded JSON body.

        Not a coroutine itself: it hands back the retry loop's, so a request in flight is one
        coroutine fewer (and the request body's dict is not kept alive next to its bytes).
        """
        payload = None if body is None else dumps(body)
        # The plain function and its arguments, not a bound method, partial or closure: at high
        # concurrency every object alive across an await feeds the GC's young generation.
        return retry_call(
            SessionManager._attempt, self, method, path, params, payload, parse,
            policy=self.policy, sleep=self._sleep, method=method, path=path, rng=self._rng,
            on_wait=self._on_wait, on_rate_limited=self._on_rate_limited,
        )  # fmt: skip

    async def _attempt(
        self,
        method: str,
        path: str,
        params: QueryParams | None,
        payload: bytes | None,
        parse: Callable[[Any], T],
    ) -> T | DeferredError:
        """One attempt: concurrency bound, rate-limit gate, send, observe, interpret.

        One coroutine for all of it. The answer is read completely and the connection released
        before it is interpreted.
        """
        session = self._client_session()  # first: it may renew the semaphore for a new loop
        async with self._semaphore:
            if not self.gate.try_acquire():
                self._waits.add(await self._pass_gate(method, path))
            observed = False
            try:
                try:
                    async with session.request(
                        method,
                        self._base_url + path,
                        params=params,
                        data=payload,
                        headers=self._request_headers(json_body=payload is not None),
                        timeout=self._timeout,
                        allow_redirects=False,
                        raise_for_status=False,  # a caller's session may say otherwise
                    ) as response:
                        status = response.status
                        headers = response.headers
                        try:
                            body = await response.read()
                        except aiohttp.ClientPayloadError as err:
                            raise ResponseValidationError(
                                f"response body of {method} {path} was cut short", status=status
                            ) from err
                except TimeoutError as err:
                    raise APITimeoutError(
                        f"{method} {path} timed out after {self._timeout.total}s"
                    ) from err
                except aiohttp.ClientError as err:
                    raise APIConnectionError(f"{method} {path} failed: {_describe(err)}") from err
                self.gate.observe(headers, status=status)
                observed = True
            finally:
                if not observed:
                    self.gate.abandon()
        return interpret_response(status, headers, body, parse, method=method, path=path)

    async def _pass_gate(self, method: str, path: str) -> float:
        try:
            return await self.gate.acquire(self.policy.max_rate_limit_wait)
        except WaitTooLong as held:
            # The known window resets later than the caller accepts to wait: fail now, as a
            # 429 with the same reset would, instead of hanging silently.
            raise RateLimitError(
                429, [], retry_after=held.seconds, rate_limit=self.gate.latest,
                method=method, path=path,
            ) from None  # fmt: skip

    def _request_headers(self, *, json_body: bool) -> Mapping[str, str] | None:
        # Our own session carries the fixed headers as defaults (aiohttp merges a per-request
        # dict on every call); a caller's session gets them with each request.
        if self._owns_session:
            return _JSON_CONTENT if json_body else None
        return self._json_headers if json_body else self._headers


class _WaitTally:
    """Seconds spent waiting (retry sleeps, rate-limit holds), summed."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        self.seconds += seconds


def _close_abandoned(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop) -> None:
    """Close the session of a client garbage-collected without ``close()``, if its loop runs."""
    if not session.closed and loop.is_running():
        asyncio.run_coroutine_threadsafe(session.close(), loop)


def _describe(error: aiohttp.ClientError) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"
