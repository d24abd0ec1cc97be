"""Every default of the library in one place, so the docs can point at a single table."""

from __future__ import annotations

from typing import Final

#: Paths of the two endpoints this library wraps.
EXPERIMENTS_PATH: Final = "/api/v2/llm-obs/v1/experiments"
ANALYTICS_PATH: Final = "/api/v2/llm-obs/v1/experimentation/analytics"
EXPERIMENT_EVENTS_PATH: Final = "/api/v2/llm-obs/v3/experiments/{experiment_id}/events"
PROJECTS_PATH: Final = "/api/v2/llm-obs/v1/projects"

#: Environment variables read when keys / site are not passed explicitly.
API_KEY_ENV: Final = "DD_API_KEY"
APP_KEY_ENVS: Final = ("DD_APP_KEY", "DD_APPLICATION_KEY")
SITE_ENV: Final = "DD_SITE"
#: The API root to use instead of a site (a proxy, ``ddllmobs fake-server``); the second
#: spelling is accepted too. It beats ``DD_SITE``; explicit arguments beat both.
BASE_URL_ENVS: Final = ("DD_LLMOBS_BASE_URL", "DDLLMOBS_BASE_URL")

DEFAULT_SITE: Final = "datadoghq.com"

#: Datadog sites (as written in DD_SITE) -> API base URL. The reference pages name the app
#: hosts (``app.datadoghq.com``...) too, so both spellings are accepted.
SITE_API_HOSTS: Final[dict[str, str]] = {
    "datadoghq.com": "api.datadoghq.com",
    "us3.datadoghq.com": "api.us3.datadoghq.com",
    "us5.datadoghq.com": "api.us5.datadoghq.com",
    "datadoghq.eu": "api.datadoghq.eu",
    "ap1.datadoghq.com": "api.ap1.datadoghq.com",
    "ap2.datadoghq.com": "api.ap2.datadoghq.com",
    "ddog-gov.com": "api.ddog-gov.com",
    "us2.ddog-gov.com": "api.us2.ddog-gov.com",
    "uk1.datadoghq.com": "api.uk1.datadoghq.com",
}
SITE_ALIASES: Final[dict[str, str]] = {
    "app.datadoghq.com": "datadoghq.com",
    "app.datadoghq.eu": "datadoghq.eu",
    "app.ddog-gov.com": "ddog-gov.com",
}

LOOPBACK_HOSTS: Final = frozenset({"localhost", "::1", "[::1]"})

# Request timing and pooling.
DEFAULT_TIMEOUT: Final = 30.0  # seconds, per attempt
DEFAULT_MAX_RETRIES: Final = 3
DEFAULT_MAX_CONCURRENCY: Final = 32
KEEPALIVE_TIMEOUT: Final = 30.0
DNS_CACHE_TTL: Final = 300

# Backoff schedule for 5xx, connection errors and timeouts (full jitter, capped).
DEFAULT_INITIAL_DELAY: Final = 0.5
DEFAULT_MAX_DELAY: Final = 8.0
# Rate limits: a server wait above this cap means "give up now", never "sleep an hour".
DEFAULT_MAX_RATE_LIMIT_WAIT: Final = 60.0
# Extra seconds (at most) added on top of the server's reset, so we never arrive early.
DEFAULT_RATE_LIMIT_JITTER: Final = 0.1
RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

# Pagination.
MAX_PAGE_SIZE: Final = 5000
# Empty pages in a row (each with a new cursor) after which a stream fails instead of
# following the server for ever.
DEFAULT_MAX_EMPTY_PAGES: Final = 10

# Largest decoded response body accepted (a decompression bomb fails instead of filling RAM).
DEFAULT_MAX_RESPONSE_BYTES: Final = 256 * 2**20
# filter[id] values per request when fetching experiments by id (keeps URLs short).
IDS_PER_REQUEST: Final = 100

# Analytics limits from the API schema.
MAX_INT32: Final = 2_147_483_647
MAX_INT64: Final = 2**63 - 1
