"""``LLMObsClient``: configuration and lifecycle; its methods come per endpoint family."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

import aiohttp

from ddllmobs_async import _constants as const
from ddllmobs_async._endpoints.analytics import AnalyticsEndpoints
from ddllmobs_async._endpoints.events import EventEndpoints
from ddllmobs_async._endpoints.experiments import ExperimentEndpoints
from ddllmobs_async._endpoints.projects import ProjectEndpoints
from ddllmobs_async._ratelimit import RateLimitInfo
from ddllmobs_async._retry import RetryPolicy
from ddllmobs_async._session import SessionManager
from ddllmobs_async._validation import check_base_url, check_count, check_key, check_positive


class LLMObsClient(ExperimentEndpoints, AnalyticsEndpoints, EventEndpoints, ProjectEndpoints):
    """Async client for Datadog's LLM Observability Experiments API.

    Create one per application and share it: it owns one connection pool, one rate-limit
    gate per endpoint and one concurrency bound for every request made through it.

    ```python
    import asyncio

    import ddllmobs_async as dd


    async def main() -> None:
        async with dd.LLMObsClient() as client:  # keys from DD_API_KEY / DD_APP_KEY
            async for exp in client.list_experiments(project_id="...", max_items=3):
                print(exp.name)


    asyncio.run(main())
    ```

    Where requests go: an explicit ``base_url`` or ``site`` argument (not both); else
    ``DD_LLMOBS_BASE_URL`` (or ``DDLLMOBS_BASE_URL``), which ``ddllmobs fake-server``
    prints; else ``DD_SITE``; else ``datadoghq.com``.

    Args:
        api_key: Datadog API key; defaults to ``DD_API_KEY``.
        app_key: Datadog application key; defaults to ``DD_APP_KEY`` (or
            ``DD_APPLICATION_KEY``).
        site: Datadog site, e.g. ``datadoghq.eu``.
        base_url: The API root instead of a site (a proxy, the fake server). Must be
            ``https`` unless the host is loopback; no user info.
        timeout: Seconds allowed for each attempt (finite).
        max_retries: Retries per call (0 disables); ignored when ``retry_policy`` is given.
        max_concurrency: Requests in flight at once, across every caller of this client.
        session: An open ``aiohttp.ClientSession`` to use as-is; the client never closes it.
        retry_policy: Full control over retries and rate-limit waits.
        max_empty_pages: A stream fails with :class:`ResponseValidationError` after more
            pages than this in a row with nothing new (each carrying a new cursor): empty,
            or holding only items the stream already delivered.
        max_response_bytes: Largest decoded body accepted; a larger one fails the call with
            :class:`ResponseTooLargeError` (not retried).

    Raises:
        ValueError: Missing keys (naming the environment variables), an unknown site
            (listing the valid ones), both ``site`` and ``base_url``, a bad ``base_url``,
            keys with control characters, bad numbers, a closed ``session``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        app_key: str | None = None,
        *,
        site: str | None = None,
        base_url: str | None = None,
        timeout: float = const.DEFAULT_TIMEOUT,
        max_retries: int = const.DEFAULT_MAX_RETRIES,
        max_concurrency: int = const.DEFAULT_MAX_CONCURRENCY,
        session: aiohttp.ClientSession | None = None,
        retry_policy: RetryPolicy | None = None,
        max_empty_pages: int = const.DEFAULT_MAX_EMPTY_PAGES,
        max_response_bytes: int = const.DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        api_key, app_key = _resolve_keys(api_key, app_key)
        self._site, self._base_url = resolve_endpoint(site=site, base_url=base_url)
        check_positive("timeout", timeout)
        check_count("max_concurrency", max_concurrency)
        check_count("max_response_bytes", max_response_bytes)
        if isinstance(max_empty_pages, bool) or not isinstance(max_empty_pages, int):
            raise TypeError(f"max_empty_pages must be an int, got {max_empty_pages!r}")
        if max_empty_pages < 0:
            raise ValueError(f"max_empty_pages must be >= 0, got {max_empty_pages}")
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
            )
        if session is not None and session.closed:
            raise ValueError("session is closed: pass an open aiohttp.ClientSession")
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise TypeError("retry_policy must be a RetryPolicy")
        policy = retry_policy if retry_policy is not None else RetryPolicy(max_retries=max_retries)
        self._max_empty_pages = max_empty_pages
        self._session = SessionManager(
            base_url=self._base_url,
            api_key=api_key,
            app_key=app_key,
            timeout=float(timeout),
            max_concurrency=max_concurrency,
            max_response_bytes=max_response_bytes,
            policy=policy,
            session=session,
        )

    def __repr__(self) -> str:
        return f"LLMObsClient(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        """The API root every request goes to, e.g. ``https://api.datadoghq.eu``."""
        return self._base_url

    @property
    def site(self) -> str | None:
        """The Datadog site in use, or ``None`` when a base URL is used instead."""
        return self._site

    @property
    def retry_policy(self) -> RetryPolicy:
        """The :class:`RetryPolicy` in force."""
        return self._session.policy

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The rate-limit state reported by the latest response, if any.

        That response may come from any endpoint: its ``name`` says which limit it is. Its
        ``reset`` counts from when that response arrived.
        """
        return self._session.rate_limit

    @property
    def total_wait_seconds(self) -> float:
        """Seconds this client's requests have spent waiting (retry backoff and rate limits)."""
        return self._session.total_wait

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the client's background work and close its connection pool.

        After it returns, nothing the client started sends a request: calls still in
        progress (waiting their turn or in flight) fail with :class:`APIConnectionError`
        instead of reopening the pool. A ``session=`` passed in is left open. The client
        stays usable: a call made later opens a new pool.
        """
        await self._session.close()


def resolve_endpoint(*, site: str | None, base_url: str | None) -> tuple[str | None, str]:
    """(site, base URL) from the arguments, else the environment; see :class:`LLMObsClient`."""
    if site is not None and base_url is not None:
        raise ValueError("pass either site= or base_url=, not both")
    if base_url is None and site is None:
        variable = next((n for n in const.BASE_URL_ENVS if os.environ.get(n)), None)
        if variable is not None:
            return None, check_base_url(os.environ[variable], argument=variable)
    if base_url is not None:
        return None, check_base_url(base_url)
    name = resolve_site(site)
    return name, f"https://{const.SITE_API_HOSTS[name]}"


def resolve_site(site: str | None) -> str:
    """Normalise a Datadog site name (argument, else ``DD_SITE``, else ``datadoghq.com``)."""
    raw = site if site is not None else os.environ.get(const.SITE_ENV) or const.DEFAULT_SITE
    name = raw.strip().lower().removeprefix("https://").rstrip("/")
    name = const.SITE_ALIASES.get(name, name)
    if name not in const.SITE_API_HOSTS:
        valid = ", ".join(sorted(const.SITE_API_HOSTS))
        raise ValueError(f"unknown Datadog site {raw!r}; valid sites: {valid}")
    return name


def _resolve_keys(api_key: str | None, app_key: str | None) -> tuple[str, str]:
    """Keys from the arguments, else the environment; one error names everything missing."""
    wanted = (
        ("api_key", api_key, (const.API_KEY_ENV,)),
        ("app_key", app_key, const.APP_KEY_ENVS),
    )
    found: list[str] = []
    missing: list[str] = []
    for argument, value, env_names in wanted:
        source = argument
        if value is None:
            source = next((n for n in env_names if os.environ.get(n)), argument)
            value = os.environ.get(source)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{argument} must be a string")
        if not value:
            missing.append(f"{argument}= (or set {' or '.join(env_names)})")
        else:
            check_key(source, value)
        found.append(value or "")
    if missing:
        raise ValueError("missing Datadog keys: pass " + " and ".join(missing))
    return found[0], found[1]
