"""``LLMObsClient``: configuration and the two endpoints, on top of the session manager."""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from contextlib import aclosing
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp

from ddllmobs_async import _batch
from ddllmobs_async import _constants as const
from ddllmobs_async._converters import (
    structure_aggregate_result,
    structure_experiment_page,
    unstructure_aggregate_query,
)
from ddllmobs_async._pagination import iter_items, iter_pages, read_ahead
from ddllmobs_async._query import check_paging, experiment_filters, page_params
from ddllmobs_async._ratelimit import RateLimitInfo
from ddllmobs_async._retry import RetryPolicy
from ddllmobs_async._session import SessionManager
from ddllmobs_async.errors import LLMObsError
from ddllmobs_async.models import (
    AggregateQuery,
    AggregateResult,
    Experiment,
    ExperimentComparison,
    ExperimentLookup,
    ExperimentPage,
    TimeRange,
)


class LLMObsClient:
    """Async client for Datadog's LLM Observability Experiments API.

    Create one per application and share it: it owns one connection pool, one rate-limit
    gate and one concurrency bound for every request made through it.

    ```python
    async with LLMObsClient() as client:          # keys from DD_API_KEY / DD_APP_KEY
        async for exp in client.list_experiments(project_id="..."):
            print(exp.name)
    ```

    Args:
        api_key: Datadog API key; defaults to ``DD_API_KEY``.
        app_key: Datadog application key; defaults to ``DD_APP_KEY`` (or
            ``DD_APPLICATION_KEY``).
        site: Datadog site, e.g. ``datadoghq.eu``; defaults to ``DD_SITE``, else
            ``datadoghq.com``.
        base_url: Overrides the site (a proxy, the fake server). Must be ``https`` unless
            the host is loopback.
        timeout: Seconds allowed for each attempt.
        max_retries: Retries per call (0 disables); ignored when ``retry_policy`` is given.
        max_concurrency: Requests in flight at once, across every caller of this client.
        session: An ``aiohttp.ClientSession`` to use as-is; the client never closes it.
        retry_policy: Full control over retries and rate-limit waits.

    Raises:
        ValueError: Missing keys (naming the environment variables), an unknown site
            (listing the valid ones), a plain-http non-loopback ``base_url``, bad numbers.
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
    ) -> None:
        api_key, app_key = _resolve_keys(api_key, app_key)
        self._site = resolve_site(site) if base_url is None else None
        self._base_url = _check_base_url(base_url) if base_url else f"https://{self._site_host()}"
        _check_positive("timeout", timeout)
        _check_count("max_concurrency", max_concurrency)
        policy = retry_policy if retry_policy is not None else RetryPolicy(max_retries=max_retries)
        self._session = SessionManager(
            base_url=self._base_url,
            api_key=api_key,
            app_key=app_key,
            timeout=float(timeout),
            max_concurrency=max_concurrency,
            policy=policy,
            session=session,
        )

    def _site_host(self) -> str:
        assert self._site is not None
        return const.SITE_API_HOSTS[self._site]

    def __repr__(self) -> str:
        return f"LLMObsClient(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        """The API root every request goes to, e.g. ``https://api.datadoghq.eu``."""
        return self._base_url

    @property
    def site(self) -> str | None:
        """The Datadog site in use, or ``None`` when ``base_url`` was given."""
        return self._site

    @property
    def retry_policy(self) -> RetryPolicy:
        """The :class:`RetryPolicy` in force."""
        return self._session.policy

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The rate-limit state reported by the latest response, if any.

        Its ``reset`` counts from when that response arrived.
        """
        return self._session.gate.latest

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
        """Close the connection pool (a ``session=`` passed in is left open)."""
        await self._session.close()

    # --- list experiments ---------------------------------------------------------------

    async def list_experiments(
        self,
        *,
        project_id: str | None = None,
        dataset_id: str | None = None,
        ids: Iterable[str] | None = None,
        name: str | None = None,
        experiment: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        parent_experiment_ids: Iterable[str] | None = None,
        is_deleted: bool | None = None,
        include_user_data: bool = False,
        include_dataset_names: bool = False,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
        prefetch: int = 0,
    ) -> AsyncGenerator[Experiment]:
        """Stream experiments, newest first, fetching pages lazily as you iterate.

        Page N+1 is requested only when you reach the end of page N (unless ``prefetch``
        says otherwise); ``break`` or ``aclose()`` stops fetching. Arguments are validated
        before the first request.

        Args:
            project_id: Experiments of this project (this or ``dataset_id`` is required).
            dataset_id: Experiments run on this dataset.
            ids: Only these experiment ids (sent as repeated ``filter[id]``).
            name: Exact run name.
            experiment: Logical experiment name shared by all its runs.
            metadata: Experiments whose metadata contains all these key/value pairs.
            parent_experiment_ids: Experiments run against any of these baselines.
            is_deleted: ``True`` for soft-deleted experiments only.
            include_user_data: Fill :attr:`Experiment.author`.
            include_dataset_names: Fill :attr:`Experiment.dataset_name`.
            page_size: Items per request, 1..5000 (server default 5000).
            cursor: Resume from this cursor (``ExperimentPage.next_cursor`` or
                ``LLMObsError.cursor``).
            max_items: Stop after this many experiments.
            prefetch: Pages to fetch in the background while you work through the current
                one (0, the default, fetches only on demand). ``prefetch=1`` overlaps the
                next request with your processing; each page held costs its memory.

        Raises:
            LLMObsError: Any failure after retries; its ``cursor`` says where to resume.
        """
        pages = self.list_experiment_pages(
            project_id=project_id, dataset_id=dataset_id, ids=ids, name=name,
            experiment=experiment, metadata=metadata,
            parent_experiment_ids=parent_experiment_ids, is_deleted=is_deleted,
            include_user_data=include_user_data, include_dataset_names=include_dataset_names,
            page_size=page_size, cursor=cursor, max_items=max_items, prefetch=prefetch,
        )  # fmt: skip
        async with aclosing(pages):
            async for experiment_item in iter_items(pages):
                yield experiment_item

    async def list_experiment_pages(
        self,
        *,
        project_id: str | None = None,
        dataset_id: str | None = None,
        ids: Iterable[str] | None = None,
        name: str | None = None,
        experiment: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        parent_experiment_ids: Iterable[str] | None = None,
        is_deleted: bool | None = None,
        include_user_data: bool = False,
        include_dataset_names: bool = False,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
        prefetch: int = 0,
    ) -> AsyncGenerator[ExperimentPage]:
        """Stream whole pages (same arguments as :meth:`list_experiments`).

        Each :class:`ExperimentPage` carries ``next_cursor``: store it after processing the
        page and pass it back as ``cursor=`` to resume an interrupted job.
        """
        filters = experiment_filters(
            project_id=project_id, dataset_id=dataset_id, ids=ids, name=name,
            experiment=experiment, metadata=metadata,
            parent_experiment_ids=parent_experiment_ids, is_deleted=is_deleted,
            include_user_data=include_user_data, include_dataset_names=include_dataset_names,
        )  # fmt: skip
        check_paging(page_size=page_size, cursor=cursor, max_items=max_items, prefetch=prefetch)

        async def fetch_page(page_cursor: str | None, limit: int | None) -> ExperimentPage:
            return await self._session.request_json(
                "GET",
                const.EXPERIMENTS_PATH,
                functools.partial(structure_experiment_page, cursor=page_cursor),
                params=filters + page_params(limit, page_cursor),
            )

        pages = iter_pages(fetch_page, page_size=page_size, cursor=cursor, max_items=max_items)
        if prefetch:
            pages = read_ahead(pages, prefetch)
        async with aclosing(pages):
            async for page in pages:
                yield page
                del page  # not held while the next page is fetched (see _pagination.iter_items)

    # --- aggregate ----------------------------------------------------------------------

    async def aggregate(self, query: AggregateQuery) -> AggregateResult:
        """Run an analytics aggregation over experimentation data.

        Raises:
            TypeError: ``query`` is not an :class:`AggregateQuery`.
            LLMObsError: Any failure after retries.
        """
        if not isinstance(query, AggregateQuery):
            raise TypeError(f"query must be an AggregateQuery, got {type(query).__name__}")
        return await self._session.request_json(
            "POST",
            const.ANALYTICS_PATH,
            structure_aggregate_result,
            body=unstructure_aggregate_query(query),
        )

    # --- batch helpers ------------------------------------------------------------------

    async def get_experiments(
        self,
        ids: Iterable[str],
        *,
        project_id: str | None = None,
        dataset_id: str | None = None,
        is_deleted: bool | None = None,
        include_user_data: bool = False,
        include_dataset_names: bool = False,
    ) -> ExperimentLookup:
        """Fetch many experiments by id: chunked ``filter[id]`` requests, run concurrently.

        Ids are sent 100 per request (short URLs), all chunks at once under the client's
        ``max_concurrency``. Results keep the order of ``ids`` (duplicates collapse); ids the
        API did not return are listed in :attr:`ExperimentLookup.missing`. The API needs
        ``project_id`` or ``dataset_id`` here too.
        """
        wanted = _batch.unique_ids(ids)
        experiment_filters(
            project_id=project_id, dataset_id=dataset_id, ids=wanted, name=None,
            experiment=None, metadata=None, parent_experiment_ids=None, is_deleted=is_deleted,
            include_user_data=include_user_data, include_dataset_names=include_dataset_names,
        )  # fmt: skip

        def list_chunk(chunk: list[str]) -> AsyncIterator[Experiment]:
            return self.list_experiments(
                project_id=project_id, dataset_id=dataset_id, ids=chunk, is_deleted=is_deleted,
                include_user_data=include_user_data, include_dataset_names=include_dataset_names,
            )  # fmt: skip

        return await _batch.get_experiments(wanted, list_chunk)

    async def aggregate_many(
        self,
        queries: Iterable[AggregateQuery],
        *,
        concurrency: int | None = None,
        return_exceptions: bool = False,
    ) -> list[AggregateResult | LLMObsError]:
        """Run many aggregates concurrently; results in the order of ``queries``.

        Args:
            queries: The queries (validated before any request is sent).
            concurrency: At most this many of these queries in flight (the client's
                ``max_concurrency`` bounds it too).
            return_exceptions: Put each failed query's :class:`LLMObsError` in its slot
                instead of raising the first one (and cancelling the rest).
        """
        batch = list(queries)
        for position, query in enumerate(batch):
            if not isinstance(query, AggregateQuery):
                raise TypeError(f"queries[{position}] must be an AggregateQuery")
        if concurrency is not None:
            _check_count("concurrency", concurrency)
        calls = [functools.partial(self.aggregate, query) for query in batch]
        return await _batch.run_bounded(
            calls, concurrency=concurrency, return_exceptions=return_exceptions
        )

    async def compare_experiments(
        self,
        experiment_ids: Iterable[str],
        *,
        baseline_id: str | None = None,
        metric: str = "score_value",
        index: str = "experiment-evals",
        group_by: str = "label",
        time: TimeRange | None = None,
    ) -> ExperimentComparison:
        """How did these runs score against their baseline?

        Runs one aggregate per experiment (and one for the baseline), averaging ``metric``
        per ``group_by`` value (by default per eval ``label``), and returns the scores side
        by side with :meth:`ExperimentComparison.delta` to read differences. A run's
        baseline is usually its :attr:`Experiment.parent_experiment_id`; without
        ``baseline_id`` the first of ``experiment_ids`` is the baseline.
        """
        runs = _batch.unique_ids(experiment_ids)
        if baseline_id is None:
            if not runs:
                raise ValueError("experiment_ids must name at least one experiment")
            baseline_id, *runs = runs
        if not isinstance(baseline_id, str) or not baseline_id:
            raise ValueError("baseline_id must be a non-empty experiment id")
        return await _batch.compare_experiments(
            runs, self.aggregate, baseline_id=baseline_id,
            metric=metric, index=index, group_by=group_by, time=time,
        )  # fmt: skip


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
        if value is None:
            value = next((os.environ[n] for n in env_names if os.environ.get(n)), None)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{argument} must be a string")
        if not value:
            missing.append(f"{argument}= (or set {' or '.join(env_names)})")
        found.append(value or "")
    if missing:
        raise ValueError("missing Datadog keys: pass " + " and ".join(missing))
    return found[0], found[1]


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("base_url must use https (plain http is only allowed for loopback hosts)")
    if parts.query or parts.fragment:
        raise ValueError("base_url must not have a query string or fragment")
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host in const.LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_positive(argument: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{argument} must be a number > 0, got {value!r}")


def _check_count(argument: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be an int >= 1, got {value!r}")
