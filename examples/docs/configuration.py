"""Ways to configure a client: environment, explicit keys and site, base_url, own session."""

import aiohttp

from ddllmobs_async import LLMObsClient


# --8<-- [start:env]
def from_environment() -> LLMObsClient:
    # DD_API_KEY, DD_APP_KEY (or DD_APPLICATION_KEY), and DD_SITE (default datadoghq.com).
    return LLMObsClient()


# --8<-- [end:env]


# --8<-- [start:explicit]
def eu_client(api_key: str, app_key: str) -> LLMObsClient:
    return LLMObsClient(
        api_key,
        app_key,
        site="datadoghq.eu",  # -> https://api.datadoghq.eu
        timeout=10.0,  # seconds per attempt
        max_retries=5,  # retries per call after the first attempt
        max_concurrency=8,  # requests in flight at once through this client
    )


# --8<-- [end:explicit]


# --8<-- [start:base_url]
def proxied_client(api_key: str, app_key: str, base_url: str) -> LLMObsClient:
    # base_url replaces the site: an egress proxy, a mock, the fake server.
    # It must be https unless the host is loopback (127.0.0.1, ::1, localhost).
    return LLMObsClient(api_key, app_key, base_url=base_url)


# --8<-- [end:base_url]


# --8<-- [start:session]
async def with_own_session(api_key: str, app_key: str, base_url: str, project_id: str) -> int:
    connector = aiohttp.TCPConnector(limit=10)
    async with aiohttp.ClientSession(connector=connector) as session:
        # The client uses this session as-is and never closes it.
        client = LLMObsClient(api_key, app_key, base_url=base_url, session=session)
        count = 0
        async for _ in client.list_experiments(project_id=project_id):
            count += 1
        await client.close()  # leaves `session` open
        return count


# --8<-- [end:session]
