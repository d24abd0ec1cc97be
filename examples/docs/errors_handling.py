"""Handle each kind of failure."""

from ddllmobs_async import (
    AggregateQuery,
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    LLMObsClient,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
)


async def main(client: LLMObsClient, query: AggregateQuery) -> str:
    try:
        result = await client.aggregate(query)
    except BadRequestError as err:
        # Datadog says what is wrong, and where: a JSON pointer into the body
        # or the name of a query parameter.
        problems = []
        for detail in err.errors:
            source = detail.source
            where = (source.pointer or source.parameter) if source else None
            problems.append(f"{detail.detail} (at {where})")
        return "bad request: " + "; ".join(problems)
    except (AuthenticationError, PermissionDeniedError) as err:
        return f"check DD_API_KEY / DD_APP_KEY: HTTP {err.status}"
    except RateLimitError as err:
        # Raised after the retries, or at once when the server asks for a wait
        # longer than RetryPolicy.max_rate_limit_wait. The body is usually empty.
        return f"rate limited: retry in {err.retry_after}s ({err.limit} per {err.period}s)"
    except APIError as err:  # 404, other 4xx, 5xx after retries
        return f"HTTP {err.status} on {err.method} {err.path}: {err}"
    except APIConnectionError as err:  # includes APITimeoutError
        return f"no answer: {err}"
    except ResponseValidationError as err:
        return f"unreadable response: {err}"
    return f"{result.hit_count} events"
