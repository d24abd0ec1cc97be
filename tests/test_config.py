"""Client configuration: keys, sites, base URLs, and secrets never shown."""

from __future__ import annotations

import logging

import pytest

import ddllmobs_async as dd
from ddllmobs_async import _constants as const

API_KEY = "api-key-0123456789abcdef"
APP_KEY = "app-key-fedcba9876543210"

REFERENCE_SITES = {
    # the eight sites of the reference pages, as DD_SITE spells them and as app hosts
    "ap1.datadoghq.com": "https://api.ap1.datadoghq.com",
    "ap2.datadoghq.com": "https://api.ap2.datadoghq.com",
    "datadoghq.eu": "https://api.datadoghq.eu",
    "app.datadoghq.eu": "https://api.datadoghq.eu",
    "ddog-gov.com": "https://api.ddog-gov.com",
    "app.ddog-gov.com": "https://api.ddog-gov.com",
    "us2.ddog-gov.com": "https://api.us2.ddog-gov.com",
    "datadoghq.com": "https://api.datadoghq.com",
    "app.datadoghq.com": "https://api.datadoghq.com",
    "us3.datadoghq.com": "https://api.us3.datadoghq.com",
    "us5.datadoghq.com": "https://api.us5.datadoghq.com",
    "uk1.datadoghq.com": "https://api.uk1.datadoghq.com",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DD_API_KEY",
        "DD_APP_KEY",
        "DD_APPLICATION_KEY",
        "DD_SITE",
        "DD_LLMOBS_BASE_URL",
        "DDLLMOBS_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("site", "expected"), sorted(REFERENCE_SITES.items()))
def test_every_site_maps_to_its_api_host(site: str, expected: str) -> None:
    client = dd.LLMObsClient(API_KEY, APP_KEY, site=site)
    assert client.base_url == expected


def test_site_defaults_to_dd_site_then_datadoghq_com(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dd.LLMObsClient(API_KEY, APP_KEY).base_url == "https://api.datadoghq.com"
    monkeypatch.setenv("DD_SITE", "us5.datadoghq.com")
    assert dd.LLMObsClient(API_KEY, APP_KEY).base_url == "https://api.us5.datadoghq.com"
    assert dd.LLMObsClient(API_KEY, APP_KEY).site == "us5.datadoghq.com"


def test_unknown_site_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown Datadog site") as info:
        dd.LLMObsClient(API_KEY, APP_KEY, site="datadoghq.org")
    for site in const.SITE_API_HOSTS:
        assert site in str(info.value)


def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    monkeypatch.setenv("DD_APPLICATION_KEY", APP_KEY)
    client = dd.LLMObsClient()
    assert client._session._headers["DD-API-KEY"] == API_KEY
    assert client._session._headers["DD-APPLICATION-KEY"] == APP_KEY
    monkeypatch.setenv("DD_APP_KEY", "preferred-app-key")
    assert dd.LLMObsClient()._session._headers["DD-APPLICATION-KEY"] == "preferred-app-key"


def test_missing_keys_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="DD_API_KEY") as info:
        dd.LLMObsClient()
    assert "DD_APP_KEY" in str(info.value)  # one error names every missing variable
    with pytest.raises(ValueError, match="DD_APP_KEY") as info:
        dd.LLMObsClient(api_key=API_KEY)
    assert "DD_API_KEY" not in str(info.value)
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    with pytest.raises(ValueError, match="DD_APP_KEY or DD_APPLICATION_KEY"):
        dd.LLMObsClient()


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9000", "http://127.5.6.7"],
)
def test_plain_http_is_accepted_for_loopback(url: str) -> None:
    assert dd.LLMObsClient(API_KEY, APP_KEY, base_url=url + "/").base_url == url


@pytest.mark.parametrize(
    "url", ["http://api.datadoghq.com", "http://10.0.0.1", "ftp://127.0.0.1", "not a url"]
)
def test_plain_http_is_refused_elsewhere(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        dd.LLMObsClient(API_KEY, APP_KEY, base_url=url)


def test_base_url_keeps_a_proxy_prefix() -> None:
    client = dd.LLMObsClient(API_KEY, APP_KEY, base_url="https://proxy/dd/")
    assert client.base_url == "https://proxy/dd"
    assert client.site is None


def test_site_and_base_url_together_are_an_error_naming_both() -> None:
    with pytest.raises(ValueError, match=r"site=.*base_url="):
        dd.LLMObsClient(API_KEY, APP_KEY, site="datadoghq.eu", base_url="https://proxy/dd/")


@pytest.mark.parametrize("variable", ["DD_LLMOBS_BASE_URL", "DDLLMOBS_BASE_URL"])
def test_the_base_url_variable_beats_dd_site_and_arguments_beat_both(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv("DD_SITE", "datadoghq.eu")
    monkeypatch.setenv(variable, "http://127.0.0.1:8126/")
    client = dd.LLMObsClient(API_KEY, APP_KEY)
    assert (client.base_url, client.site) == ("http://127.0.0.1:8126", None)
    explicit_site = dd.LLMObsClient(API_KEY, APP_KEY, site="us5.datadoghq.com")
    assert explicit_site.base_url == "https://api.us5.datadoghq.com"
    explicit_url = dd.LLMObsClient(API_KEY, APP_KEY, base_url="http://localhost:9")
    assert explicit_url.base_url == "http://localhost:9"


def test_the_new_base_url_variable_beats_the_old_spelling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DDLLMOBS_BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("DD_LLMOBS_BASE_URL", "http://127.0.0.1:2")
    assert dd.LLMObsClient(API_KEY, APP_KEY).base_url == "http://127.0.0.1:2"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"max_response_bytes": 0}, "max_response_bytes"),
        ({"max_empty_pages": -1}, "max_empty_pages"),
    ],
)
def test_bad_numbers_are_rejected_naming_the_argument(
    kwargs: dict[str, float], argument: str
) -> None:
    with pytest.raises(ValueError, match=argument):
        dd.LLMObsClient(API_KEY, APP_KEY, **kwargs)  # type: ignore[arg-type]


def test_retry_policy_replaces_max_retries() -> None:
    policy = dd.RetryPolicy(max_retries=7, initial_delay=0.01)
    assert dd.LLMObsClient(API_KEY, APP_KEY, retry_policy=policy).retry_policy is policy
    assert dd.LLMObsClient(API_KEY, APP_KEY, max_retries=0).retry_policy.max_retries == 0


def test_secrets_never_appear_in_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = dd.LLMObsClient(API_KEY, APP_KEY)
    for text in (repr(client), str(client), repr(client._session), str(vars(client))):
        assert API_KEY not in text.replace(repr(client._session._headers), "")
    assert API_KEY not in repr(client) and APP_KEY not in repr(client)
    assert API_KEY not in repr(client._session) and APP_KEY not in repr(client._session)
    assert not any(API_KEY in r.getMessage() or APP_KEY in r.getMessage() for r in caplog.records)


def test_user_agent_names_the_library_and_version() -> None:
    headers = dd.LLMObsClient(API_KEY, APP_KEY)._session._headers
    assert headers["User-Agent"].startswith(f"ddllmobs-async/{dd.__version__} ")
    assert headers["Accept"] == "application/json"
