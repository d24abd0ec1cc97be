"""The documentation cannot rot: every sample runs against the fake, every page is checked.

Each Python sample of the docs lives in ``examples/docs/`` and is included into a page with
``--8<--``; the tests below run each one against a ``FakeLLMObs`` and check its result. The
page checks make sure that pages only include existing files and sections, that any inline
Python block compiles, and that the API reference covers every public name.
``mkdocs build --strict`` itself runs in ``nox -s docs``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import logging
import math
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from aiohttp import test_utils

import ddllmobs_async as dd
import ddllmobs_async.testing as dd_testing
from ddllmobs_async.testing import FakeLLMObs, Fault
from tests.conftest import FAST_RETRIES, ClientFactory

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SAMPLES = ROOT / "examples" / "docs"
ANALYTICS = "/api/v2/llm-obs/v1/experimentation/analytics"

F = TypeVar("F", bound=Callable[..., Any])
COVERED: set[str] = set()


def covers(*samples: str) -> Callable[[F], F]:
    """Mark a test as the one exercising these ``examples/docs/<name>.py`` samples."""
    COVERED.update(samples)
    return lambda test: test


def sample(name: str) -> ModuleType:
    path = SAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_sample_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def live(fake: FakeLLMObs) -> list[dict[str, Any]]:
    return [e for e in fake.experiments if e["attributes"]["deleted_at"] is None]


def mean(values: Iterable[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, int | float)]
    return sum(numbers) / len(numbers) if numbers else None


def label_means(fake: FakeLLMObs, experiment_id: str) -> dict[str, float | None]:
    events = [e for e in fake.eval_events if e["experiment_id"] == experiment_id]
    labels = sorted({e["label"] for e in events})
    return {
        label: mean(e["score_value"] for e in events if e["label"] == label) for label in labels
    }


def epoch_ms(value: datetime | int) -> int:
    return value if isinstance(value, int) else int(value.timestamp() * 1000)


async def typed(client: dd.LLMObsClient, project_id: str, n: int) -> list[dd.Experiment]:
    return [e async for e in client.list_experiments(project_id=project_id, max_items=n)]


# --------------------------------------------------------------------------- home, setup


@covers("quickstart")
async def test_quickstart(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    scores = await sample("quickstart").main(client, fake.project_id)
    newest = live(fake)[0]["id"]
    assert scores == pytest.approx(label_means(fake, newest))
    assert set(scores) == {"faithfulness", "relevance"}
    (listing,) = fake.requests_to("experiments")
    assert listing.params("page[limit]") == ["10"]
    (analytics,) = fake.requests_to("analytics")
    assert analytics.json["data"]["attributes"]["aggregate"]["search"] == {
        "query": f"@experiment_id:{newest}"
    }


@covers("configuration")
async def test_configuration(
    fake: FakeLLMObs, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sample("configuration")
    monkeypatch.setenv("DD_API_KEY", "api-key")
    monkeypatch.delenv("DD_APP_KEY", raising=False)
    monkeypatch.setenv("DD_APPLICATION_KEY", "app-key")
    monkeypatch.setenv("DD_SITE", "us5.datadoghq.com")
    async with config.from_environment() as from_env:
        assert from_env.base_url == "https://api.us5.datadoghq.com"
        assert from_env.site == "us5.datadoghq.com"
    monkeypatch.delenv("DD_APPLICATION_KEY")
    with pytest.raises(ValueError, match="DD_APP_KEY or DD_APPLICATION_KEY"):
        config.from_environment()

    async with config.eu_client("api-key", "app-key") as eu:
        assert eu.base_url == "https://api.datadoghq.eu"
        assert eu.retry_policy.max_retries == 5

    async with config.proxied_client(fake.api_key, fake.app_key, fake.url) as proxied:
        ids = [e.id async for e in proxied.list_experiments(project_id=fake.project_id)]
    assert ids == [e["id"] for e in live(fake)]
    with pytest.raises(ValueError, match="https"):
        config.proxied_client("k", "a", "http://proxy.example.com")

    count = await config.with_own_session(fake.api_key, fake.app_key, fake.url, fake.project_id)
    assert count == len(live(fake))


# --------------------------------------------------------------------------- listing


@covers("listing_basic")
async def test_listing_basic(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    listing = sample("listing_basic")
    assert await listing.main(client, fake.project_id) == [e["id"] for e in live(fake)]
    fake.reset_requests()
    names = await listing.newest(client, fake.project_id, 7)
    assert names == [e["attributes"]["name"] for e in live(fake)][:7]
    (request,) = fake.requests_to("experiments")
    assert request.params("page[limit]") == ["7"]


@covers("listing_filters")
async def test_listing_filters(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    listing = sample("listing_filters")
    found = await listing.main(client, fake.project_id)
    wanted = [
        e
        for e in live(fake)
        if e["attributes"]["experiment"] == "summarizer"
        and e["attributes"]["metadata"]["branch"] == "main"
    ]
    assert len(wanted) >= 3
    assert [e.id for e in found] == [e["id"] for e in wanted]
    for exp, raw in zip(found, wanted, strict=True):
        assert exp.author is not None
        assert exp.author.name == raw["attributes"]["author"]["name"]
        assert exp.dataset_name == raw["attributes"]["dataset_name"]
    (request,) = fake.requests_to("experiments")
    assert request.params("filter[metadata]") == ['{"branch":"main"}']
    assert request.params("filter[experiment]") == ["summarizer"]

    baseline = next(
        e["attributes"]["parent_experiment_id"]
        for e in live(fake)
        if e["attributes"]["parent_experiment_id"]
    )
    children = await listing.runs_against(client, fake.project_id, baseline)
    assert children == [
        e["id"] for e in live(fake) if e["attributes"]["parent_experiment_id"] == baseline
    ]
    assert children
    deleted = await listing.deleted(client, fake.project_id)
    assert deleted == [e["id"] for e in fake.experiments if e["attributes"]["deleted_at"]]
    assert deleted


@covers("listing_lazy")
async def test_listing_lazy(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    found = await sample("listing_lazy").main(client, fake.project_id)
    first_failed = next(e for e in live(fake) if e["attributes"]["status"] == "failed")
    assert found is not None
    assert found.id == first_failed["id"]
    assert found.status is dd.ExperimentStatus.FAILED
    assert len(fake.requests_to("experiments")) == 1  # 20 of 53 experiments fetched


@covers("listing_prefetch")
async def test_listing_prefetch(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    requested_while_writing: list[int] = []
    written: list[str] = []

    async def write_batch(experiments: Sequence[dd.Experiment]) -> None:
        await asyncio.sleep(0.05)  # a slow sink
        requested_while_writing.append(len(fake.requests_to("experiments")))
        written.extend(e.id for e in experiments)

    count = await sample("listing_prefetch").main(client, fake.project_id, write_batch)
    assert count == len(written) and written == [e["id"] for e in live(fake)]
    # while page N was written, page N+1 had already been requested (3 pages of 20, 53 items)
    assert requested_while_writing == [2, 3, 3]


@covers("pages")
async def test_pages(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    pages = await sample("pages").main(client, fake.project_id)
    assert [len(page.experiments) for page in pages] == [25, 25, 3]
    assert [e.id for page in pages for e in page.experiments] == [e["id"] for e in live(fake)]
    assert pages[0].cursor is None
    for previous, page in itertools.pairwise(pages):
        assert page.cursor == previous.next_cursor is not None
    assert pages[-1].next_cursor is None


@covers("resume_cursor")
async def test_resume_cursor(fake: FakeLLMObs, make_client: ClientFactory) -> None:
    client = make_client(fake, retry_policy=dd.RetryPolicy(max_retries=0))
    fake.fail_randomly(0.3, seed=4, kinds=[Fault.status(503)], endpoint="experiments")
    processed = await sample("resume_cursor").main(client, fake.project_id, pause=0)
    assert processed == [e["id"] for e in live(fake)]  # each exactly once, in order
    requests = fake.requests_to("experiments")
    failures = [i for i, r in enumerate(requests) if r.status == 503]
    assert failures, "the fake should have failed some pages"
    for i in failures:  # each resume asked again for exactly the page that failed
        assert requests[i + 1].params("page[cursor]") == requests[i].params("page[cursor]")
    assert sum(r.status == 200 for r in requests) == math.ceil(len(live(fake)) / 10)


@covers("lookup_ids")
async def test_lookup_ids(make_client: ClientFactory) -> None:
    async with FakeLLMObs.seeded(n_experiments=230) as fake:
        client = make_client(fake)
        wanted = [e["id"] for e in reversed(live(fake))]
        deleted = next(e["id"] for e in fake.experiments if e["attributes"]["deleted_at"])
        ids = [*wanted, deleted, "no-such-experiment", wanted[0]]
        lookup = await sample("lookup_ids").main(client, fake.project_id, ids)
        assert [e.id for e in lookup.experiments] == wanted  # input order, duplicates collapsed
        assert lookup.missing == [deleted, "no-such-experiment"]
        assert len(fake.requests_to("experiments")) == math.ceil((len(wanted) + 2) / 100)


# --------------------------------------------------------------------------- aggregates


@covers("aggregate_query")
async def test_aggregate_query(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    (experiment,) = await typed(client, fake.project_id, 1)
    scores = await sample("aggregate_query").main(client, experiment)
    assert scores == pytest.approx(label_means(fake, experiment.id))
    (request,) = fake.requests_to("analytics")
    start = epoch_ms(experiment.created_at)
    assert request.json == {
        "data": {
            "type": "experimentation",
            "attributes": {
                "aggregate": {
                    "compute": [{"metric": "score_value", "name": "avg_score"}],
                    "indexes": ["experiment-evals"],
                    "search": {"query": f"@experiment_id:{experiment.id}"},
                    "group_by": [{"field": "label"}],
                    "limit": 100,
                    "dataset_version": experiment.dataset_version,
                    "time": {"from": start, "to": start + 86_400_000},
                }
            },
        }
    }


@covers("aggregate_buckets")
async def test_aggregate_buckets(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    buckets = sample("aggregate_buckets")
    experiment_id = live(fake)[0]["id"]
    rows = await buckets.main(client, experiment_id)
    events = [e for e in fake.eval_events if e["experiment_id"] == experiment_id]
    assert sorted(rows, key=lambda r: (r[0], r[1])) == sorted(
        (e["label"], e["span_id"], e["score_value"]) for e in events
    )
    overall = await buckets.overall(client, experiment_id)
    assert overall == pytest.approx(mean(e["score_value"] for e in events))


@covers("time_ranges")
async def test_time_ranges(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    ranges = sample("time_ranges")
    (newest,) = await typed(client, fake.project_id, 1)
    anchor = newest.created_at - timedelta(hours=12)
    hits = await ranges.main(client, anchor)
    stamps = [e["timestamp"] for e in fake.eval_events]
    expected = {
        label: sum(epoch_ms(w.start) <= t <= epoch_ms(w.end) for t in stamps)
        for label, w in ranges.windows(anchor).items()
    }
    assert hits == expected
    assert hits["july"] == hits["july_ms"] == len(stamps)
    assert 0 < hits["before_anchor"] < len(stamps)
    with pytest.raises(ValueError, match="naive"):
        dd.TimeRange(start=datetime(2026, 7, 1), end=datetime.now(timezone.utc))


@covers("compare")
async def test_compare(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    comparison = await sample("compare").main(client, fake.project_id)
    runs = [
        e
        for e in live(fake)
        if e["attributes"]["experiment"] == "summarizer"
        and e["attributes"]["parent_experiment_id"] == comparison.baseline_id
    ]
    assert sorted(comparison.scores) == sorted(e["id"] for e in runs)
    assert comparison.baseline == pytest.approx(label_means(fake, comparison.baseline_id))
    for run in runs:
        assert comparison.scores[run["id"]] == pytest.approx(label_means(fake, run["id"]))
        for label, delta in comparison.deltas[run["id"]].items():
            score, base = comparison.scores[run["id"]][label], comparison.baseline[label]
            assert delta == pytest.approx(score - base)


# --------------------------------------------------------------------------- errors, retries


@covers("errors_handling")
async def test_errors_handling(fake: FakeLLMObs, make_client: ClientFactory) -> None:
    handle = sample("errors_handling").main
    client = make_client(fake)
    good = dd.AggregateQuery(["score_value"], ["experiment-evals"], "*")
    assert await handle(client, good) == f"{len(fake.eval_events)} events"

    bad_index = dd.AggregateQuery(["score_value"], ["no-such-index"], "*")
    assert await handle(client, bad_index) == (
        "bad request: Unknown index 'no-such-index'. (at /data/attributes/aggregate/indexes/0)"
    )

    async with dd.LLMObsClient("wrong-key", fake.app_key, base_url=fake.url) as wrong:
        assert await handle(wrong, good) == "check DD_API_KEY / DD_APP_KEY: HTTP 403"

    fake.inject(Fault.rate_limited(reset=30))  # longer than max_rate_limit_wait: no sleep
    impatient = make_client(fake, retry_policy=dd.RetryPolicy(max_rate_limit_wait=1.0))
    assert await handle(impatient, good) == "rate limited: retry in 30.0s (1000000 per 60.0s)"

    # The messages quoted in docs/errors.md are the real ones.
    page = (DOCS / "errors.md").read_text()
    with pytest.raises(dd.BadRequestError) as bad:
        await client.aggregate(bad_index)
    assert str(bad.value) in page
    fake.inject(Fault.rate_limited(reset=30))
    async with dd.LLMObsClient(
        fake.api_key, fake.app_key, base_url=fake.url, max_retries=0
    ) as no_retries:
        with pytest.raises(dd.RateLimitError) as limited:
            await no_retries.aggregate(good)
    assert str(limited.value) in page
    assert limited.value.errors == []

    fake.inject(*[Fault.status(502)] * 4)  # the first attempt and 3 retries
    assert (await handle(client, good)).startswith(f"HTTP 502 on POST {ANALYTICS}: ")

    fake.inject(*[Fault.reset()] * 4)
    assert (await handle(client, good)).startswith("no answer: POST")

    fake.inject(*[Fault.non_json()] * 4)
    assert (await handle(client, good)).startswith("unreadable response: ")
    assert fake.pending_faults == 0


@covers("retry_tuning")
async def test_retry_tuning(fake: FakeLLMObs, caplog: pytest.LogCaptureFixture) -> None:
    tuning = sample("retry_tuning")
    logger = logging.getLogger("ddllmobs_async")
    level = logger.level
    events: list[dd.RetryEvent] = []
    client = tuning.build_client(
        events, api_key=fake.api_key, app_key=fake.app_key, base_url=fake.url
    )
    try:
        tuning.log_retries()
        assert logger.isEnabledFor(logging.INFO)
        fake.inject(Fault.status(503), Fault.rate_limited(reset=0.05))
        async with client:
            ids = await tuning.main(client, fake.project_id)
            assert ids == [e["id"] for e in live(fake)]
            assert [(e.attempt, e.status) for e in events] == [(1, 503), (2, 429)]
            assert 0 <= events[0].wait <= 0.2
            assert 0.05 <= events[1].wait <= 0.05 + 0.25
            assert client.total_wait_seconds >= events[0].wait + events[1].wait
            assert client.retry_policy.max_retries == 5
    finally:
        logger.setLevel(level)
    messages = [r.getMessage() for r in caplog.records if r.name == "ddllmobs_async"]
    assert any("after ServerError (attempt 2 of 6)" in m for m in messages)
    assert any("after RateLimitError (attempt 3 of 6)" in m for m in messages)


@covers("concurrency")
async def test_concurrency(make_client: ClientFactory) -> None:
    async with FakeLLMObs.seeded(n_experiments=25, rate_limit=(10, 0.3)) as fake:
        client = make_client(fake)
        ids = [e["id"] for e in fake.experiments]
        results = await sample("concurrency").main(client, ids)
        assert [r.hit_count for r in results] == [4] * len(ids)
        assert [r.buckets[0].metrics["score_value"] for r in results] == pytest.approx(
            [
                mean(e["score_value"] for e in fake.eval_events if e["experiment_id"] == i)
                for i in ids
            ]
        )
        # 25 requests, 10 per window: the gate holds the rest back until the reset
        # instead of letting 15 of them collect 429s.
        assert fake.stats.rate_limited <= 1
        assert client.total_wait_seconds > 0
        info = client.rate_limit
        assert info is not None
        assert info.name == "llm_obs_experimentation_analytics"
        assert info.limit == 10


# --------------------------------------------------------------------------- batch jobs


@covers("batch_job")
async def test_batch_job(fake: FakeLLMObs, make_client: ClientFactory, tmp_path: Path) -> None:
    job = sample("batch_job")
    client = make_client(fake, retry_policy=dd.RetryPolicy(max_retries=0))
    checkpoint = tmp_path / "scores.json"
    fake.fail_randomly(0.5, seed=1, kinds=[Fault.status(503)], endpoint="experiments")
    fake.inject(*[Fault.status(503)] * 3, endpoint="analytics")  # 3 aggregates fail for good
    runs, resumed_from = 0, []
    while True:  # a scheduler re-running the job until it completes
        runs += 1
        assert runs <= 20
        try:
            state = await job.main(client, fake.project_id, checkpoint, concurrency=4)
        except dd.LLMObsError:
            if checkpoint.exists():
                resumed_from.append(json.loads(checkpoint.read_text())["cursor"])
            continue
        break
    fake.clear_faults()
    assert any(resumed_from), "the fake should have interrupted the job after some progress"
    assert state["done"] is True
    assert json.loads(checkpoint.read_text()) == state
    done = [*state["scores"], *state["failed"]]
    assert sorted(done) == sorted(e["id"] for e in live(fake))  # each exactly once
    assert len(state["failed"]) == 3
    for experiment_id, scores in state["scores"].items():
        assert scores == pytest.approx(label_means(fake, experiment_id))
    listed = [r for r in fake.requests_to("experiments") if r.status == 200]
    assert len(listed) == math.ceil(len(live(fake)) / 20)  # no page was listed twice
    assert await job.main(client, fake.project_id, checkpoint) == state  # done: no requests
    assert len(fake.requests_to("experiments")) == len(listed) + sum(
        r.status == 503 for r in fake.requests_to("experiments")
    )


# --------------------------------------------------------------------------- web backends


@covers("web_aiohttp")
async def test_web_aiohttp(fake: FakeLLMObs) -> None:
    web_app = sample("web_aiohttp")
    app = web_app.create_app(
        api_key=fake.api_key, app_key=fake.app_key, base_url=fake.url, retry_policy=FAST_RETRIES
    )
    async with test_utils.TestClient(test_utils.TestServer(app)) as http:
        shared = app[web_app.LLMOBS]
        response = await http.get(f"/projects/{fake.project_id}/experiments?limit=5")
        assert response.status == 200
        body = await response.json()
        assert [item["id"] for item in body] == [e["id"] for e in live(fake)][:5]
        assert body[0]["status"] == live(fake)[0]["attributes"]["status"]

        response = await http.get(f"/projects/{fake.project_id}/experiments?limit=-1")
        assert response.status == 400
        fake.inject(*[Fault.status(503)] * 4)
        response = await http.get(f"/projects/{fake.project_id}/experiments")
        assert response.status == 502
        assert app[web_app.LLMOBS] is shared  # one client for every request
    assert len({r.headers["User-Agent"] for r in fake.requests}) == 1


@covers("web_fastapi")
async def test_web_fastapi(fake: FakeLLMObs) -> None:
    web_app = sample("web_fastapi")
    app = web_app.create_app(
        api_key=fake.api_key, app_key=fake.app_key, base_url=fake.url, retry_policy=FAST_RETRIES
    )
    async with app.router.lifespan_context(app):
        client = app.state.llmobs
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            response = await http.get(
                f"/projects/{fake.project_id}/experiments", params={"limit": 3}
            )
            assert response.status_code == 200
            assert [item["id"] for item in response.json()] == [e["id"] for e in live(fake)][:3]
            response = await http.get(f"/projects/{fake.project_id}/experiments?limit=0")
            assert response.json() == []
            response = await http.get(f"/projects/{fake.project_id}/experiments?limit=-1")
            assert response.status_code == 400
            fake.inject(*[Fault.status(500)] * 4)
            response = await http.get(f"/projects/{fake.project_id}/experiments")
            assert response.status_code == 502
        assert app.state.llmobs is client
    assert client._session.closed  # the lifespan closed it


# --------------------------------------------------------------------------- testing


@covers("testing_with_fake")
async def test_testing_with_fake() -> None:
    testing = sample("testing_with_fake")
    counts = await testing.check_seeded()
    assert sum(counts.values()) > 30
    assert set(counts) <= {"completed", "running", "failed", "interrupted"}
    assert await testing.check_custom_data() == {"completed": 1, "failed": 2}


@covers("testing_fixtures")
def test_testing_fixtures() -> None:
    # Run the sample as its own pytest session: fixtures come from the installed plugin.
    sample = str(SAMPLES / "testing_fixtures.py")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", sample],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


# --------------------------------------------------------------------------- the pages

SNIPPET = re.compile(r'^\s*(?:;)?--8<--\s+"([^"]+)"\s*$')
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)[^\n]*$")


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, source) of every ```python block, dedented to its fence."""
    blocks: list[tuple[int, str]] = []
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence, lang = match["indent"], match["fence"], match["lang"]
        body: list[str] = []
        start = index + 1
        index += 1
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index][len(indent) :])
            index += 1
        index += 1
        if lang in ("python", "py", "python3"):
            blocks.append((start, "\n".join(body)))
    return blocks


def snippet_targets() -> list[tuple[Path, str]]:
    targets = []
    for page in pages():
        for line in page.read_text().splitlines():
            match = SNIPPET.match(line)
            if match:
                targets.append((page, match[1]))
    return targets


def test_every_sample_is_tested() -> None:
    assert {path.stem for path in SAMPLES.glob("*.py")} == COVERED


def test_every_sample_is_shown_in_a_page() -> None:
    included = {target.split(":")[0] for _, target in snippet_targets()}
    for path in SAMPLES.glob("*.py"):
        assert path.relative_to(ROOT).as_posix() in included, f"{path.name} is in no page"


def test_snippet_includes_resolve() -> None:
    targets = snippet_targets()
    assert len(targets) > 20
    for page, target in targets:
        file, _, section = target.partition(":")
        path = ROOT / file
        assert path.is_file(), f"{page.name} includes missing {file}"
        if section:
            text = path.read_text()
            for marker in ("start", "end"):
                assert f"--8<-- [{marker}:{section}]" in text, f"{page.name}: {target}"


def test_python_blocks_are_includes_or_compile() -> None:
    checked = 0
    for page in pages():
        for line, source in python_blocks(page):
            checked += 1
            lines = [text for text in source.splitlines() if text.strip()]
            if lines and all(SNIPPET.match(text) for text in lines):
                continue
            compile(source, f"{page.relative_to(ROOT)}:{line}", "exec", dont_inherit=True)
    assert checked > 20


def test_nav_lists_every_page() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def files(entries: Any) -> Iterable[str]:
        if isinstance(entries, str):
            yield entries
        elif isinstance(entries, list):
            for entry in entries:
                yield from files(entry)
        elif isinstance(entries, dict):
            for value in entries.values():
                yield from files(value)

    in_nav = set(files(config["nav"]))
    on_disk = {page.relative_to(DOCS).as_posix() for page in pages()}
    assert on_disk <= in_nav | {"performance.md"}
    assert "performance.md" in in_nav
    assert in_nav - {"performance.md"} <= on_disk


def test_reference_documents_every_public_name() -> None:
    directives = {
        match
        for page in (DOCS / "reference").glob("*.md")
        for match in re.findall(r"^:::\s+(\S+)", page.read_text(), flags=re.MULTILINE)
    }
    for package in (dd, dd_testing):
        for name in package.__all__:
            assert f"{package.__name__}.{name}" in directives, f"{package.__name__}.{name}"
    assert "ddllmobs_async.testing.pytest_plugin" in directives


def test_changelog_has_this_version() -> None:
    changelog = (DOCS / "changelog.md").read_text()
    assert "## [Unreleased]" in changelog
    assert re.search(
        rf"^## \[{re.escape(dd.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M
    )


def test_cli_page_matches_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    from ddllmobs_async import cli

    implemented: set[str] = set()
    for command in (
        [],
        ["experiments"],
        ["experiments", "list"],
        ["aggregate"],
        ["fake-server"],
        ["demo"],
    ):
        assert cli.main([*command, "--help"]) == 0
        implemented |= set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", capsys.readouterr().out))
    page = (DOCS / "cli.md").read_text()
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", page))
    assert implemented - {"--help"} <= documented, "options missing from docs/cli.md"
    assert documented <= implemented, "docs/cli.md mentions options the CLI does not have"
