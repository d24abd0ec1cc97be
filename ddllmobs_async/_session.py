"""The session manager: the only code that touches aiohttp, and the one request loop.

It owns one ``ClientSession`` per client (created lazily inside the running loop), passes
every attempt through its endpoint's rate-limit gate and the concurrency bound, and retries.
Bodies are read completely (and at most ``max_response_bytes`` of them) before the
connection is released, so nothing upstream ever holds an open response.
"""

from __future__ import annotations

import asyncio
import platform
import random
import weakref
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp

from ddllmobs_async._constants import DNS_CACHE_TTL, KEEPALIVE_TIMEOUT
from ddllmobs_async._gate import Grant, RateLimitGate, WaitTooLong
from ddllmobs_async._ratelimit import RateLimitInfo, Reading, info_of
from ddllmobs_async._redaction import scrubbed
from ddllmobs_async._responses import Answer, decoded_body, gc_paused, without_secrets
from ddllmobs_async._retry import (
    RetryEvent,
    RetryPolicy,
    announce_retry,
    retry_delay,
    should_retry,
)
from ddllmobs_async._slots import Slots
from ddllmobs_async._version import __version__
from ddllmobs_async.errors import (
    APIConnectionError,
    APITimeoutError,
    LLMObsError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
)

USER_AGENT = (
    f"ddllmobs-async/{__version__} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)

QueryParams = Sequence[tuple[str, str]]
T = TypeVar("T")
_JSON_CONTENT: Mapping[str, str] = {"Content-Type": "application/json"}


class SessionManager:
    """Connection pooling, rate-limit gates, concurrency bound and retries for one client."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        app_key: str,
        timeout: float,
        max_concurrency: int,
        max_response_bytes: int,
        policy: RetryPolicy,
        session: aiohttp.ClientSession | None = None,
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
        self._secrets = tuple(key for key in (api_key, app_key) if key)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_concurrency = max_concurrency
        self._max_response_bytes = max_response_bytes
        self._slots = Slots(max_concurrency)
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finalizer: weakref.finalize[Any, SessionManager] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pauses: set[asyncio.Future[None]] = set()  # calls sleeping before a retry
        self._rng = random.Random()
        self.policy = policy
        self._gates: dict[str, RateLimitGate] = {}  # by endpoint (path template)
        self._latest: Reading | None = None
        self.total_wait = 0.0  # seconds spent in retry sleeps and at the gate
        self._closes = 0  # close() calls so far: a call started before one fails, not reopens

    def __repr__(self) -> str:
        return f"SessionManager(base_url={self._base_url!r})"

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """What the most recent answer with ``X-RateLimit-*`` headers said, any endpoint."""
        return None if self._latest is None else info_of(self._latest)

    @property
    def closed(self) -> bool:
        """True when there is no open session (never opened, or closed)."""
        return self._session is None or self._session.closed

    # --- the request loop ---------------------------------------------------------------

    async def request_json(
        self,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        endpoint: str,
        params: QueryParams | None = None,
        payload: bytes | None = None,
    ) -> T:
        """Send a request until it succeeds or fails for good; return ``parse`` of its JSON.

        Each attempt waits at the gate of ``endpoint`` (``path``'s template: the rate limit
        is the endpoint's, whatever ids the path holds) and for a slot, is sent, and its
        answer is checked and decoded; a failure is retried when the policy says so, after a
        backoff step or the server's wait. ``parse`` runs once, after the loop: a body of the
        wrong shape is never retried. ``payload`` is the JSON request body, already encoded:
        a call waiting for its turn holds those bytes only, not the objects they were made
        from.
        """
        schedule: Iterator[float] | None = None
        failures = 0
        opened = self._closes
        while True:
            try:
                self._check_open(opened, method, path)
                answer = await self._send(
                    method,
                    path,
                    params,
                    payload,
                    gate=self._gate(endpoint),
                    retry=failures > 0,
                    opened=opened,
                )
                if not 200 <= answer.status < 300:  # its body and headers go into the error
                    answer = without_secrets(answer, self._secrets)
                data = decoded_body(answer, method=method, path=path, secrets=self._secrets)
            except LLMObsError as error:
                failures += 1
                if self._closes != opened:
                    if isinstance(error, APIConnectionError):  # close() cut it, not the server
                        self._check_open(opened, method, path)
                    raise
                if not should_retry(error, failures, self.policy):
                    raise
                schedule = schedule or self.policy.backoff_delays()
                wait = retry_delay(error, schedule, self.policy, self._rng)
                status = getattr(error, "status", None)
                event = RetryEvent(
                    attempt=failures,
                    wait=wait,
                    error=error,
                    status=status,
                    method=method,
                    path=path,
                )
                announce_retry(self.policy, event)
                self.total_wait += wait
                await self._pause(wait)
                continue  # after close(), the check at the top ends the call
            with gc_paused(len(answer.body)):
                return self.parsed(parse, data)

    async def _pause(self, seconds: float) -> None:
        """Sleep before a retry; :meth:`close` ends the sleep at once."""
        loop = asyncio.get_running_loop()
        pause: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _end_pause, pause)
        self._pauses.add(pause)
        try:
            await pause
        finally:
            timer.cancel()
            self._pauses.discard(pause)

    def parsed(self, parse: Callable[..., T], data: Any, **options: Any) -> T:
        """``parse(data, **options)``; its error never quotes our keys back (a server may
        echo them into the very member that fails to parse)."""
        try:
            return parse(data, **options)
        except LLMObsError as error:
            failure = error
        raise scrubbed(failure, self._secrets)

    async def _send(
        self,
        method: str,
        path: str,
        params: QueryParams | None,
        payload: bytes | None,
        *,
        gate: RateLimitGate,
        retry: bool,
        opened: int,
    ) -> Answer:
        """One attempt: rate-limit gate, concurrency bound, send, read the whole answer.

        The gate comes first, so calls held by one endpoint's spent window wait without a
        slot, and the others' calls go by; a retry goes to the front of both queues.
        """
        session = self._client_session()  # first: it may renew the slots for a new loop
        first = retry
        while True:
            grant = await self._pass_gate(gate, method, path, first=first)
            answer = await self._send_in_slot(
                session,
                method,
                path,
                params,
                payload,
                gate=gate,
                grant=grant,
                first=first,
                opened=opened,
            )
            if answer is not None:
                return answer
            first = True  # its window ended while it waited for a slot: again, at the front

    async def _send_in_slot(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        params: QueryParams | None,
        payload: bytes | None,
        *,
        gate: RateLimitGate,
        grant: Grant,
        first: bool,
        opened: int,
    ) -> Answer | None:
        """Take a slot and send, charged to the window the request goes out in; ``None``
        when the grant's window ended while it waited for the slot and the current one has
        no room: it must pass the gate again, without holding a slot (nothing waits at a
        gate holding one, so slow calls can never leave every slot waiting)."""
        granted, sent, heard = True, False, False  # the gate must hear how a grant ends

        def hear(status: int, headers: Mapping[str, str]) -> None:
            # As soon as the answer's head arrives: a body that then fails to arrive or
            # decode was still answered, and its rate-limit headers still hold.
            nonlocal heard
            heard = True
            reading = gate.observe(headers, status=status, sent_at=sent_at)
            if reading is not None:
                self._latest = reading

        try:
            async with self._slots.held(first=first):
                if not gate.current(grant):
                    gate.release(grant, sent=False)
                    granted = False
                    renewed = gate.take_now()
                    if renewed is None:
                        return None
                    grant, granted = renewed, True
                self._check_open(opened, method, path)  # close() may have run while we waited
                sent_at = asyncio.get_running_loop().time()
                sent = True
                return await self._exchange(session, method, path, params, payload, hear)
        except BaseException as error:
            if granted and not heard:
                cancelled = isinstance(error, asyncio.CancelledError)
                _unanswered(gate, grant, sent=sent, cancelled=cancelled)
            raise

    def _gate(self, endpoint: str) -> RateLimitGate:
        gate = self._gates.get(endpoint)
        if gate is None:
            gate = RateLimitGate(max_wait=self.policy.max_rate_limit_wait)
            self._gates[endpoint] = gate
        return gate

    def _check_open(self, opened: int, method: str, path: str) -> None:
        """A call started before :meth:`close` ends there, instead of opening a new pool."""
        if self._closes != opened:
            raise APIConnectionError(f"{method} {path}: the client was closed during the call")

    async def _pass_gate(
        self, gate: RateLimitGate, method: str, path: str, *, first: bool
    ) -> Grant:
        try:
            grant = await gate.acquire(first=first)
        except WaitTooLong as held:
            too_long = held.seconds
        else:
            self.total_wait += grant.waited
            return grant
        # The window resets later than the caller accepts to wait: fail now, as a 429 with
        # the same reset would, instead of hanging. (Raised outside the except: no chain.)
        raise RateLimitError(
            429,
            [],
            retry_after=too_long,
            rate_limit=gate.latest,
            method=method,
            path=path,
        )

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        params: QueryParams | None,
        payload: bytes | None,
        hear: Callable[[int, Mapping[str, str]], None],
    ) -> Answer:
        """The HTTP exchange itself; aiohttp's errors become ours. ``hear`` gets the status
        and headers as soon as they arrive, before the body is read.

        Ours are raised outside aiohttp's ``except`` blocks, so no aiohttp exception (whose
        ``request_info`` holds the request headers, keys included) is chained to them.
        """
        failure: LLMObsError
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
                hear(response.status, response.headers)
                body = await _read_body(response, self._max_response_bytes, method, path)
                return Answer(response.status, response.headers, body)
        except TimeoutError:
            failure = APITimeoutError(f"{method} {path} timed out after {self._timeout.total}s")
        except aiohttp.ClientPayloadError as err:  # before the body: a broken encoding
            failure = ResponseValidationError(f"response of {method} {path}: {_describe(err)}")
        except aiohttp.ClientError as err:
            failure = APIConnectionError(f"{method} {path} failed: {_describe(err)}")
        raise failure

    # --- the aiohttp session ------------------------------------------------------------

    def _client_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if not self._owns_session:
            assert self._session is not None
            if self._session.closed:
                raise LLMObsError(
                    "the aiohttp ClientSession passed as session= is closed; pass an open one "
                    "or let the client manage its own"
                )
            return self._session
        if self._session is not None and not self._session.closed:
            if loop is not self._loop:
                raise RuntimeError(_other_loop_advice(self._loop))
            return self._session
        if self._loop is not None and loop is not self._loop:
            # A client closed in one asyncio.run() and used again in the next: the bound and
            # the gates' timers belong to the new loop now.
            self._slots = Slots(self._max_concurrency)
            for gate in self._gates.values():
                gate.reset_loop()
        self._loop = loop
        self._session = self._new_session(loop)
        return self._session

    def _new_session(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
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
        # aiohttp silently resends a GET once when a kept-alive connection drops; our retry
        # loop is the only retry layer, so every attempt is counted and paced.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        # Dropped without close() while its loop runs: close it then, not warn later.
        self._finalizer = weakref.finalize(self, _close_abandoned, session, loop)
        self._finalizer.atexit = False
        return session

    def _request_headers(self, *, json_body: bool) -> Mapping[str, str] | None:
        # Our own session carries the fixed headers as defaults; a caller's session gets them
        # with each request.
        if self._owns_session:
            return _JSON_CONTENT if json_body else None
        return self._json_headers if json_body else self._headers

    # --- background work and closing ----------------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coroutine`` as a task this client owns: :meth:`close` cancels it."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Stop the client's background tasks, then close the session if it is ours.

        After this returns, nothing the client started sends a request: calls still in
        progress fail with :class:`APIConnectionError` (they never reopen the pool); a call
        made later opens a new session.
        """
        self._closes += 1
        for gate in self._gates.values():
            gate.close(_closed_during_the_call)
        self._slots.close(_closed_during_the_call)
        for pause in self._pauses:
            _end_pause(pause)
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for gate in self._gates.values():
            gate.close()
        if self._session is not None and self._owns_session:
            session, self._session = self._session, None
            if self._finalizer is not None:
                self._finalizer.detach()
            await session.close()


def _other_loop_advice(owner: asyncio.AbstractEventLoop | None) -> str:
    if owner is not None and owner.is_closed():
        return (
            "this LLMObsClient's connections belong to an event loop that has ended without "
            "closing it: `await client.close()` here drops them (then the client works in "
            "this loop), or create one client per loop"
        )
    return (
        "this LLMObsClient's connections belong to another event loop: close it "
        "(`async with` / `await client.close()`) in the loop that used it, or create one "
        "client per loop"
    )


def _end_pause(pause: asyncio.Future[None]) -> None:
    if not pause.done():
        pause.set_result(None)


def _closed_during_the_call() -> APIConnectionError:
    return APIConnectionError("the client was closed during the call")


def _unanswered(gate: RateLimitGate, grant: Grant, *, sent: bool, cancelled: bool) -> None:
    """Tell ``gate`` how an attempt that passed it ended without an answer."""
    if sent and not cancelled:
        gate.abandon()  # the server did not answer: the gate must not wait for it
    else:
        gate.release(grant, sent=sent)  # the caller gave up: the next in line may go


async def _read_body(response: aiohttp.ClientResponse, limit: int, method: str, path: str) -> bytes:
    """The whole decoded body, refusing more than ``limit`` bytes (a decompression bomb)
    whatever the status: it would be too large again.

    An error status's body that is cut short or undecodable reads as empty: the status says
    what happened (a 4xx is not retried because its body broke), and the error it raises
    carries the status and headers.
    """
    declared = response.content_length
    if declared is not None and declared > limit:
        response.close()
        raise _too_large(limit, method, path, response.status)
    try:
        if declared is not None and not response.headers.get("Content-Encoding"):
            return await response.read()  # no more than it declared
        return await _read_at_most(response, limit, method, path)
    except aiohttp.ClientPayloadError as err:
        reason = _describe(err)
    if not 200 <= response.status < 300:
        return b""
    raise ResponseValidationError(
        f"response body of {method} {path} was cut short or could not be decoded: {reason}",
        status=response.status,
    )


async def _read_at_most(
    response: aiohttp.ClientResponse, limit: int, method: str, path: str
) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            response.close()  # the connection is not reused
            raise _too_large(limit, method, path, response.status)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, method: str, path: str, status: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"response body of {method} {path} is larger than max_response_bytes={limit}",
        status=status,
    )


def _close_abandoned(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop) -> None:
    """Close the session of a client garbage-collected without ``close()``, if its loop runs."""
    if not session.closed and loop.is_running() and not loop.is_closed():
        asyncio.run_coroutine_threadsafe(session.close(), loop)


def _describe(error: aiohttp.ClientError) -> str:
    """Type and message of an aiohttp error, never its request headers."""
    if isinstance(error, aiohttp.ClientResponseError):
        text = f"{error.status}, message={error.message!r}"
    else:
        text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"
