"""Datadog's official client: ``datadog-api-client[async]`` (aiosonic transport).

``Configuration.host`` points at the fake, both operations are enabled in
``unstable_operations``, and retries are on (``enable_retry``) so that the rate-limited batch
uses the client's own 429 handling. Pages are walked by hand with ``page_cursor`` because the
client has no paginated variant of ``list_llm_obs_experiments``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import time
import warnings
from typing import Any

from datadog_api_client import ApiClient, AsyncApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v2.model.llm_obs_experimentation_analytics_aggregate import (
    LLMObsExperimentationAnalyticsAggregate,
)
from datadog_api_client.v2.model.llm_obs_experimentation_analytics_compute import (
    LLMObsExperimentationAnalyticsCompute,
)
from datadog_api_client.v2.model.llm_obs_experimentation_analytics_data_attributes_request import (
    LLMObsExperimentationAnalyticsDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_experimentation_analytics_data_request import (
    LLMObsExperimentationAnalyticsDataRequest,
)
from datadog_api_client.v2.model.llm_obs_experimentation_analytics_group_by import (
    LLMObsExperimentationAnalyticsGroupBy,
)
from datadog_api_client.v2.model.llm_obs_experimentation_analytics_request import (
    LLMObsExperimentationAnalyticsRequest,
)
from datadog_api_client.v2.model.llm_obs_experimentation_analytics_search import (
    LLMObsExperimentationAnalyticsSearch,
)
from datadog_api_client.v2.model.llm_obs_experimentation_type import LLMObsExperimentationType
from datadog_api_client.v2.model.llm_obs_experiments_response import LLMObsExperimentsResponse

from bench.contenders._common import (
    API_KEY,
    APP_KEY,
    Result,
    Stopwatch,
    current_rss,
    experiment_id,
    main,
    project_id,
    read_page,
    time_batch,
)

warnings.filterwarnings("ignore", message="Using unstable operation")


def observability_api(api_client: Any) -> Any:
    """The API holding both operations (``AgentObservabilityApi`` since 2.6x)."""
    try:
        module = importlib.import_module("datadog_api_client.v2.api.agent_observability_api")
        return module.AgentObservabilityApi(api_client)
    except ImportError:  # older datadog-api-client
        module = importlib.import_module("datadog_api_client.v2.api.llm_observability_api")
        return module.LLMObservabilityApi(api_client)


def configuration(url: str) -> Any:
    config = Configuration(host=url or "http://127.0.0.1:9")  # type: ignore[no-untyped-call]
    config.api_key["apiKeyAuth"] = API_KEY
    config.api_key["appKeyAuth"] = APP_KEY
    config.unstable_operations["list_llm_obs_experiments"] = True
    config.unstable_operations["aggregate_llm_obs_experimentation"] = True
    config.unstable_operations["list_llm_obs_experiment_events"] = True
    config.enable_retry = True
    config.max_retries = 10
    return config


def analytics_request() -> Any:
    return LLMObsExperimentationAnalyticsRequest(
        data=LLMObsExperimentationAnalyticsDataRequest(
            type=LLMObsExperimentationType.EXPERIMENTATION,
            attributes=LLMObsExperimentationAnalyticsDataAttributesRequest(
                aggregate=LLMObsExperimentationAnalyticsAggregate(
                    compute=[
                        LLMObsExperimentationAnalyticsCompute(metric="score_value", name="avg")
                    ],
                    indexes=["experiment-evals"],
                    search=LLMObsExperimentationAnalyticsSearch(query="*"),
                    group_by=[LLMObsExperimentationAnalyticsGroupBy(field="experiment_id")],
                )
            ),
        )
    )


async def stream(args: argparse.Namespace, result: Result) -> None:
    async with AsyncApiClient(configuration(args.url)) as api_client:
        api = observability_api(api_client)
        clock = Stopwatch(args.budget)
        kwargs: dict[str, Any] = {
            "filter_project_id": project_id(args.total),
            "page_limit": args.page_size,
        }
        rss = 0
        while True:
            page = await api.list_llm_obs_experiments(**kwargs)
            result.requests += 1
            for _item in page.data:
                result.items += 1
            meta = getattr(page, "meta", None)
            cursor = getattr(meta, "after", None) if meta is not None else None
            rss = max(rss, current_rss())
            if not cursor:
                break
            if clock.over_budget():
                result.truncated = True
                break
            kwargs["page_cursor"] = cursor
        result.elapsed = clock.elapsed()
        result.extra["rss_sampled_max"] = rss


async def events(args: argparse.Namespace, result: Result) -> None:
    """``list_llm_obs_experiment_events``, following ``meta.after`` by hand (no paginator)."""
    async with AsyncApiClient(configuration(args.url)) as api_client:
        api = observability_api(api_client)
        clock = Stopwatch(args.budget)
        kwargs: dict[str, Any] = {"page_limit": args.page_size}
        rss = 0
        while True:
            page = await api.list_llm_obs_experiment_events(experiment_id(args.total), **kwargs)
            result.requests += 1
            for _span in page.data.attributes.spans:
                result.items += 1
            meta = getattr(page, "meta", None)
            cursor = getattr(meta, "after", None) if meta is not None else None
            rss = max(rss, current_rss())
            if not cursor:
                break
            if clock.over_budget():
                result.truncated = True
                break
            kwargs["page_cursor"] = cursor
        result.elapsed = clock.elapsed()
        result.extra["rss_sampled_max"] = rss


async def structure(args: argparse.Namespace, result: Result) -> None:
    """``ApiClient.deserialize`` on the page text: what the client does after reading a body."""
    raw = await read_page(args.page_file)
    api_client = ApiClient(configuration(args.url))
    response_type = (LLMObsExperimentsResponse,)
    check_type = api_client.configuration.check_return_type
    times = []
    clock = Stopwatch(args.budget)
    for _ in range(args.repeat):
        start = time.perf_counter()
        page = api_client.deserialize(raw.decode("utf-8"), response_type, check_type)
        times.append(time.perf_counter() - start)
        result.items = len(page.data)
        del page
        if clock.over_budget():
            result.truncated = len(times) < args.repeat
            break
    result.elapsed = statistics.median(times)
    result.extra["times"] = times


async def aggregate(args: argparse.Namespace, result: Result) -> None:
    sem = asyncio.Semaphore(args.concurrency)
    async with AsyncApiClient(configuration(args.url)) as api_client:
        api = observability_api(api_client)

        async def one() -> None:
            async with sem:
                try:
                    response = await api.aggregate_llm_obs_experimentation(body=analytics_request())
                except ApiException as exc:
                    if exc.status == 429:
                        result.status_429 += 1
                    raise
                result.items += len(response.data.attributes.result.values)

        await time_batch(args, result, one)
        result.requests = args.count


if __name__ == "__main__":
    raise SystemExit(
        main(
            "official",
            {
                "stream": stream,
                "events": events,
                "structure": structure,
                "aggregate": aggregate,
                "ratelimited": aggregate,
            },
        )
    )
