"""The documentation cannot rot: every code sample runs exactly as a reader sees it.

Every ```python block of README.md and docs/*.md is a complete program. The tests extract
each one from the Markdown and run it unchanged against a fresh ``FakeLLMObs``, with the
environment a reader would have after ``ddllmobs fake-server`` (``DD_LLMOBS_BASE_URL``,
``DD_API_KEY``, ``DD_APP_KEY``, ``DD_LLMOBS_PROJECT_ID``, ``EXPERIMENT_ID``): a script runs
as ``__main__`` (in a worker thread, so the fake keeps serving in the test's loop), a file of
pytest tests runs as its own pytest session, and a web application is loaded as a module and
served a few requests. Blocks with a ``title="name.py"`` get checks on what they print and
on what the fake saw; every other block must at least run without an error.

The page checks make sure that no page includes a file (``--8<--`` shows as a placeholder on
GitHub) and that the nav lists every page; tests/test_reference.py checks that the API
reference covers every public name and model field, and that the command-line page matches
the parser. ``mkdocs build --strict`` runs in ``nox -s docs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import io
import json
import logging
import math
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import test_utils

import ddllmobs_async as dd
from ddllmobs_async.testing import FakeLLMObs, Fault

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)\s*(?P<info>[^\n]*)$")
TITLE = re.compile(r'title="([^"]+)"')
ANALYTICS = "/api/v2/llm-obs/v1/experimentation/analytics"


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page, as the reader sees it."""

    page: str
    line: int
    lang: str
    title: str | None
    source: str

    @property
    def name(self) -> str:
        return self.title or f"{self.page}:{self.line}"

    @property
    def kind(self) -> str:
        if re.search(r"^(async )?def test_", self.source, re.M):
            return "pytest"
        if "def create_app(" in self.source:
            return "app"
        return "script"


def code_blocks(page: Path) -> list[Block]:
    return blocks_in(page.read_text(), page.relative_to(ROOT).as_posix())


def blocks_in(text: str, where: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"]
        start = index + 1
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != fence:
            body.append(lines[index][len(indent) :])
            index += 1
        index += 1
        lang = info.split()[0] if info.split() else ""
        title = TITLE.search(info)
        source = "\n".join(body) + "\n"
        blocks.append(Block(where, start, lang, title[1] if title else None, source))
    return blocks


def rendered_docstrings() -> Iterator[tuple[str, str]]:
    """(name, docstring) of what the API reference pages render with ``::: name``."""
    for page in sorted((DOCS / "reference").glob("*.md")):
        text = page.read_text()
        for name, options in re.findall(r"^:::\s+(\S+)\n((?:    .*\n)*)", text, re.M):
            target = _resolve(name)
            yield name, inspect.getdoc(target) or ""
            if inspect.isclass(target) and "members: false" not in options:
                for member, value in vars(target).items():
                    if not member.startswith("_") and getattr(value, "__doc__", None):
                        yield f"{name}.{member}", inspect.getdoc(value) or ""


def _resolve(dotted: str) -> Any:
    try:
        return importlib.import_module(dotted)
    except ImportError:
        module, _, attribute = dotted.rpartition(".")
        return getattr(_resolve(module), attribute)


def python_blocks() -> list[Block]:
    pages = [b for page in PAGES for b in code_blocks(page)]
    docstrings = [b for name, doc in rendered_docstrings() for b in blocks_in(doc, name)]
    return [b for b in pages + docstrings if b.lang in ("python", "py")]


BLOCKS = python_blocks()


def block(title: str) -> Block:
    (found,) = [b for b in BLOCKS if b.title == title]
    return found


# --------------------------------------------------------------------------- running


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


def reader_environment(fake: FakeLLMObs) -> dict[str, str]:
    """What ``. ./.env`` after ``ddllmobs fake-server --env-file .env`` sets, and more."""
    return {
        "DD_LLMOBS_BASE_URL": fake.url,
        "DD_API_KEY": fake.api_key,
        "DD_APP_KEY": fake.app_key,
        "DD_LLMOBS_PROJECT_ID": fake.project_id,
        "EXPERIMENT_ID": live(fake)[0]["id"],
    }


def run_script(source: str, name: str) -> str:
    """Run ``source`` as ``__main__`` (as ``python name.py`` would) and return its stdout.

    Logging set up by the sample (``logging.basicConfig``...) is undone afterwards.
    """
    code = compile(source, name, "exec", dont_inherit=True)
    out = io.StringIO()
    root, library = logging.getLogger(), logging.getLogger("ddllmobs_async")
    handlers, levels = root.handlers[:], (root.level, library.level)
    try:
        with contextlib.redirect_stdout(out):
            exec(code, {"__name__": "__main__", "__file__": name})
    finally:
        root.handlers[:] = handlers
        root.setLevel(levels[0])
        library.setLevel(levels[1])
    return out.getvalue()


def load_module(source: str, name: str) -> dict[str, Any]:
    """Run ``source`` as an imported module (``__name__`` is not ``__main__``)."""
    namespace: dict[str, Any] = {"__name__": Path(name).stem}
    exec(compile(source, name, "exec", dont_inherit=True), namespace)
    return namespace


@pytest.fixture
def reader_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeLLMObs], None]:
    def apply(fake: FakeLLMObs) -> None:
        for name in ("DD_SITE", "DDLLMOBS_BASE_URL", "DD_APPLICATION_KEY"):
            monkeypatch.delenv(name, raising=False)
        for name, value in reader_environment(fake).items():
            monkeypatch.setenv(name, value)

    return apply


@dataclass
class Expect:
    """How to run one titled block and what it must have done."""

    fake: dict[str, Any] = field(default_factory=dict)
    setup: Callable[[FakeLLMObs], None] | None = None
    check: Callable[[FakeLLMObs, str], None] | None = None
    in_tmp_dir: bool = False


EXPECT: dict[str, Expect] = {}


def expect(title: str, **options: Any) -> Callable[[Callable[[FakeLLMObs, str], None]], Any]:
    def register(check: Callable[[FakeLLMObs, str], None]) -> Callable[[FakeLLMObs, str], None]:
        EXPECT[title] = Expect(check=check, **options)
        return check

    return register


@pytest.mark.parametrize("sample", [b for b in BLOCKS if b.kind == "script"], ids=lambda b: b.name)
async def test_script_block_runs_as_shown(
    sample: Block,
    reader_env: Callable[[FakeLLMObs], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = EXPECT.get(sample.title or "", Expect())
    options = {"n_experiments": 30, **spec.fake}
    async with FakeLLMObs.seeded(**options) as fake:
        reader_env(fake)
        if spec.in_tmp_dir:
            monkeypatch.chdir(tmp_path)
        if spec.setup is not None:
            spec.setup(fake)
        stdout = await asyncio.to_thread(run_script, sample.source, sample.name)
        if spec.check is not None:
            spec.check(fake, stdout)
        else:
            assert fake.requests or "FakeLLMObs" in sample.source, "the sample sent nothing"


def test_every_expectation_names_a_block() -> None:
    titles = [b.title for b in BLOCKS if b.title]
    assert len(titles) == len(set(titles)), "block titles must be unique"
    assert set(EXPECT) <= set(titles)


# --------------------------------------------------------------------------- home, setup


@expect("quickstart.py")
def _quickstart(fake: FakeLLMObs, stdout: str) -> None:
    lines = stdout.splitlines()
    newest = live(fake)[:10]
    assert [line.split()[-1] for line in lines[:10]] == [e["attributes"]["name"] for e in newest]
    scores = {
        label: float(value) if value != "None" else None
        for label, value in (line.split(": ") for line in lines[10:])
    }
    assert scores == pytest.approx(label_means(fake, newest[0]["id"]))
    (listing,) = fake.requests_to("experiments")
    assert listing.params("page[limit]") == ["10"]
    (analytics,) = fake.requests_to("analytics")
    assert analytics.json["data"]["attributes"]["aggregate"]["search"] == {
        "query": f"@experiment_id:{newest[0]['id']}"
    }


@expect("readme.py")
def _readme(fake: FakeLLMObs, stdout: str) -> None:
    lines = stdout.splitlines()
    main = [e for e in live(fake) if e["attributes"]["metadata"]["branch"] == "main"]
    assert [line.split()[0] for line in lines[: len(main)]] == [e["id"] for e in main]
    newest = main[0]["id"]
    events = [
        e for e in fake.eval_events if e["experiment_id"] == newest and e["label"] == "faithfulness"
    ]
    spans = {line.split()[0]: line.split()[1] for line in lines[len(main) :]}
    assert spans == {e["span_id"]: str(e["score_value"]) for e in events}


@expect("configure_from_environment.py")
def _from_environment(fake: FakeLLMObs, stdout: str) -> None:
    assert stdout.split() == [fake.url, str(len(live(fake)))]


@expect("configure_explicitly.py")
def _explicit(fake: FakeLLMObs, stdout: str) -> None:
    assert stdout.split() == ["https://api.datadoghq.eu", "5"]
    assert fake.requests == []  # constructing a client sends nothing


@expect("configure_base_url.py")
def _base_url(fake: FakeLLMObs, stdout: str) -> None:
    assert stdout.strip() == f"{len(live(fake))} experiments via {fake.url}"


@expect("configure_session.py")
def _own_session(fake: FakeLLMObs, stdout: str) -> None:
    assert stdout.strip() == f"{len(live(fake))} experiments; session still open: True"


@pytest.mark.parametrize("api_key", ["k", None], ids=["app key missing", "both"])
def test_installation_quotes_the_missing_key_errors_as_raised(
    api_key: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DD_API_KEY", "DD_APP_KEY", "DD_APPLICATION_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="missing Datadog keys") as raised:
        dd.LLMObsClient(api_key=api_key)
    assert f"`{raised.value}`" in (DOCS / "installation.md").read_text()


# --------------------------------------------------------------------------- listing


@expect("list_all.py")
def _list_all(fake: FakeLLMObs, stdout: str) -> None:
    assert [line.split()[0] for line in stdout.splitlines()] == [e["id"] for e in live(fake)]


@expect("list_filters.py")
def _list_filters(fake: FakeLLMObs, stdout: str) -> None:
    wanted = [
        e
        for e in live(fake)
        if e["attributes"]["experiment"] == "summarizer"
        and e["attributes"]["metadata"]["branch"] == "main"
    ]
    assert wanted
    assert stdout.splitlines() == [
        f"{e['attributes']['name']} {e['attributes']['dataset_name']} "
        f"{e['attributes']['author']['name']}"
        for e in wanted
    ]
    (request,) = fake.requests_to("experiments")
    assert request.params("filter[metadata]") == ['{"branch":"main"}']
    assert request.params("filter[experiment]") == ["summarizer"]
    assert request.param("include[user_data]") == "true"


@expect("list_more_filters.py")
def _list_more_filters(fake: FakeLLMObs, stdout: str) -> None:
    baseline = live(fake)[-1]["id"]
    children = [e["id"] for e in live(fake) if e["attributes"]["parent_experiment_id"] == baseline]
    deleted = [e["id"] for e in fake.experiments if e["attributes"]["deleted_at"]]
    assert children and deleted
    assert stdout.splitlines() == [f"runs against {baseline}: {children}", f"deleted: {deleted}"]


@expect("list_newest.py")
def _list_newest(fake: FakeLLMObs, stdout: str) -> None:
    assert stdout.splitlines() == [e["attributes"]["name"] for e in live(fake)[:7]]
    (request,) = fake.requests_to("experiments")
    assert request.params("page[limit]") == ["7"]


@expect("stop_early.py")
def _stop_early(fake: FakeLLMObs, stdout: str) -> None:
    failed = next(e for e in live(fake) if e["attributes"]["status"] == "failed")
    assert stdout.strip() == f"newest failed run: {failed['attributes']['name']}"
    assert len(fake.requests_to("experiments")) == 1  # one page of 20 was enough


@expect("read_ahead.py")
def _read_ahead(fake: FakeLLMObs, stdout: str) -> None:
    sizes = [len(live(fake)[i : i + 20]) for i in range(0, len(live(fake)), 20)]
    assert stdout.splitlines() == [
        *(f"writing {size} experiments" for size in sizes),
        f"{len(live(fake))} experiments copied",
    ]
    assert [r.param("page[limit]") for r in fake.requests_to("experiments")] == ["20"] * 2


@expect("pages.py")
def _pages(fake: FakeLLMObs, stdout: str) -> None:
    requests = fake.requests_to("experiments")
    assert [line.split(";")[0] for line in stdout.splitlines()] == [
        "25 experiments",
        f"{len(live(fake)) - 25} experiments",
    ]
    assert "fetched with None" in stdout.splitlines()[0]
    assert f"fetched with {requests[1].param('page[cursor]')!r}" in stdout.splitlines()[1]


def _fail_the_second_page_twice(fake: FakeLLMObs) -> None:
    fake.inject(Fault.delay(0), *[Fault.status(503)] * 2, endpoint="experiments")


@expect("resume.py", setup=_fail_the_second_page_twice)
def _resume(fake: FakeLLMObs, stdout: str) -> None:
    lines = stdout.splitlines()
    requests = fake.requests_to("experiments")
    failed_cursor = requests[1].param("page[cursor]")
    assert failed_cursor is not None
    assert lines[0].startswith("HTTP 503") and lines[0].endswith(f"resuming from '{failed_cursor}'")
    assert requests[3].param("page[cursor]") == failed_cursor  # asked again for that page
    assert lines[1] == f"{len(live(fake))} experiments, each once: True"


@expect("lookup_ids.py", fake={"n_experiments": 230})
def _lookup(fake: FakeLLMObs, stdout: str) -> None:
    lines = stdout.splitlines()
    assert lines == [
        *(f"{e['id']} {e['attributes']['status']}" for e in live(fake)),
        "not found: no-such-experiment",
    ]
    lookups = fake.requests_to("experiments")[1:]  # after the listing that found the ids
    assert len(lookups) == math.ceil((len(live(fake)) + 1) / 100)
    assert all(len(r.params("filter[id]")) <= 100 for r in lookups)


# --------------------------------------------------------------------------- aggregates


@expect("aggregate_query.py")
def _aggregate_query(fake: FakeLLMObs, stdout: str) -> None:
    newest = live(fake)[0]
    means = label_means(fake, newest["id"])
    lines = stdout.splitlines()
    assert lines[0] == f"4 eval events in {len(means)} buckets"
    assert {line.split(": ")[0]: line.split(": ")[1] for line in lines[1:]} == {
        k: str(v) for k, v in means.items()
    }
    (request,) = fake.requests_to("analytics")
    aggregate = request.json["data"]["attributes"]["aggregate"]
    assert aggregate["compute"] == [{"metric": "score_value", "name": "avg_score"}]
    assert aggregate["search"] == {"query": f"@experiment_id:{newest['id']} @label:*"}
    assert aggregate["group_by"] == [{"field": "label"}]
    assert aggregate["limit"] == 100
    assert aggregate["dataset_version"] == newest["attributes"]["dataset_version"]
    assert aggregate["time"]["to"] - aggregate["time"]["from"] == 86_400_000


@expect("time_ranges.py")
def _time_ranges(fake: FakeLLMObs, stdout: str) -> None:
    hits = dict(line.split(": ") for line in stdout.splitlines())
    total = str(len(fake.eval_events))
    assert hits["last_day"] != "0"  # the fake's data leads up to now
    assert hits["january_2026"] == hits["january_2026_ms"] == "0"
    assert int(hits["last_week"]) <= int(total)
    requests = fake.requests_to("analytics")
    times = [r.json["data"]["attributes"]["aggregate"]["time"] for r in requests]
    assert times[0] == {"from": 1_767_225_600_000, "to": 1_769_904_000_000} == times[1]


@expect("buckets.py")
def _buckets(fake: FakeLLMObs, stdout: str) -> None:
    newest = live(fake)[0]["id"]
    events = [e for e in fake.eval_events if e["experiment_id"] == newest]
    lines = stdout.splitlines()
    assert sorted(lines[:-1]) == sorted(
        f"{e['label']} {e['span_id']} {e['score_value']}" for e in events
    )
    assert lines[-1] == f"overall: {mean(e['score_value'] for e in events)}"


@expect("compare.py")
def _compare(fake: FakeLLMObs, stdout: str) -> None:
    runs = [
        e
        for e in live(fake)
        if e["attributes"]["experiment"] == "summarizer" and e["attributes"]["parent_experiment_id"]
    ]
    baseline = runs[0]["attributes"]["parent_experiment_id"]
    candidates = [e for e in runs if e["attributes"]["parent_experiment_id"] == baseline]
    expected = []
    base = label_means(fake, baseline)
    for run in candidates:
        for label, score in label_means(fake, run["id"]).items():
            before = base[label]
            delta = None if score is None or before is None else score - before
            expected.append(f"{run['id']} {label}: {'n/a' if delta is None else f'{delta:+.3f}'}")
    assert stdout.splitlines() == expected


# --------------------------------------------------------------------------- errors, limits


@pytest.mark.parametrize(
    ("faults", "printed"),
    [
        (
            [],
            "bad request: Unknown index 'no-such-index'. (at /data/attributes/aggregate/indexes/0)",
        ),
        ([Fault.status(403)], "check DD_API_KEY / DD_APP_KEY: HTTP 403"),
        ([Fault.rate_limited(reset=3600)], "rate limited: retry in 3600.0s (1000000 per 60.0s)"),
        ([Fault.status(404)], f"HTTP 404 on POST {ANALYTICS}: "),
        ([Fault.non_json(status=200)] * 2, "unreadable response: "),
        ([Fault.reset()] * 2, "no answer: "),
    ],
)
async def test_errors_sample_handles_each_failure(
    reader_env: Callable[[FakeLLMObs], None], faults: list[Fault], printed: str
) -> None:
    sample = block("handle_errors.py")
    async with FakeLLMObs.seeded(n_experiments=3) as fake:
        reader_env(fake)
        fake.inject(*faults)
        stdout = await asyncio.to_thread(run_script, sample.source, sample.name)
    assert stdout.startswith(printed)
    assert fake.pending_faults == 0


async def test_errors_page_quotes_the_real_messages() -> None:
    page = (DOCS / "errors.md").read_text()
    bad_index = dd.AggregateQuery(["score_value"], ["no-such-index"], "*")
    good = dd.AggregateQuery(["score_value"], ["experiment-evals"], "*")
    async with (
        FakeLLMObs.seeded(n_experiments=3) as fake,
        dd.LLMObsClient(fake.api_key, fake.app_key, base_url=fake.url, max_retries=0) as client,
    ):
        with pytest.raises(dd.BadRequestError) as bad:
            await client.aggregate(bad_index)
        fake.inject(Fault.rate_limited(reset=30))
        with pytest.raises(dd.RateLimitError) as limited:
            await client.aggregate(good)
    assert str(bad.value) in page
    assert str(limited.value) in page


@expect("concurrency.py", fake={"n_experiments": 25, "rate_limit": (10, 0.3)})
def _concurrency(fake: FakeLLMObs, stdout: str) -> None:
    lines = stdout.splitlines()
    assert lines[0].startswith("llm_obs_experimentation_analytics: ")
    assert " of 10 left" in lines[0]
    assert float(lines[1].split()[1].rstrip("s")) > 0  # the gate held requests back
    assert lines[2] == f"{len(fake.experiments)} results, {len(fake.experiments) * 4} events"
    assert fake.stats.rate_limited <= 1  # not 15 requests that collected 429s


def _a_503_then_a_429(fake: FakeLLMObs) -> None:
    fake.inject(Fault.status(503), Fault.rate_limited(reset=0.05))


@expect("retry_policy.py", setup=_a_503_then_a_429)
def _retry_policy(fake: FakeLLMObs, stdout: str) -> None:
    lines = stdout.splitlines()
    assert lines[0].startswith("retry 1 after HTTP 503")
    assert lines[1].startswith("retry 2 after HTTP 429")
    assert lines[2] == f"{len(live(fake))} experiments"


@expect("log_retries.py", setup=lambda fake: fake.inject(Fault.status(503)))
def _log_retries(fake: FakeLLMObs, stdout: str) -> None:
    assert stdout.strip() == f"{len(live(fake))} experiments"
    assert [r.status for r in fake.requests_to("experiments")][:2] == [503, 200]


# --------------------------------------------------------------------------- batch jobs


EXPECT["batch_job.py"] = Expect(
    in_tmp_dir=True, check=lambda fake, stdout: assert_batch_done(fake, stdout, failed=0)
)


def assert_batch_done(fake: FakeLLMObs, stdout: str, *, failed: int) -> None:
    state = json.loads(Path("scores.json").read_text())
    assert state["done"] is True
    assert sorted([*state["scores"], *state["failed"]]) == sorted(e["id"] for e in live(fake))
    assert len(state["failed"]) == failed
    for experiment_id, scores in state["scores"].items():
        assert scores == pytest.approx(label_means(fake, experiment_id))
    assert stdout.strip() == f"{len(live(fake)) - failed} experiments scored, {failed} failed"


async def test_batch_job_sample_resumes_until_every_experiment_is_scored(
    reader_env: Callable[[FakeLLMObs], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = block("batch_job.py")
    monkeypatch.chdir(tmp_path)
    checkpoint = tmp_path / "scores.json"
    async with FakeLLMObs.seeded(n_experiments=60) as fake:
        reader_env(fake)
        # Page 2, then page 3 fail for good (a 404 is not retried): the job stops twice.
        fake.inject(Fault.delay(0), Fault.status(404), endpoint="experiments")
        fake.inject(Fault.delay(0), Fault.status(404), endpoint="experiments")
        fake.inject(*[Fault.status(400)] * 3, endpoint="analytics")  # 3 aggregates fail
        cursors = []
        for _ in range(3):  # a scheduler re-running the job until it completes
            try:
                stdout = await asyncio.to_thread(run_script, sample.source, sample.name)
            except dd.NotFoundError:
                cursors.append(json.loads(checkpoint.read_text())["cursor"])
                continue
            break
        assert len(cursors) == 2 and all(cursors)
        assert_batch_done(fake, stdout, failed=3)
        listed = [r for r in fake.requests_to("experiments") if r.status == 200]
        assert len(listed) == math.ceil(len(live(fake)) / 20)  # no page was listed twice
        before = len(fake.requests)
        assert await asyncio.to_thread(run_script, sample.source, sample.name) == ""
        assert len(fake.requests) == before  # done: nothing more to request


# --------------------------------------------------------------------------- web backends


async def test_aiohttp_backend_sample(reader_env: Callable[[FakeLLMObs], None]) -> None:
    sample = block("aiohttp_backend.py")
    async with FakeLLMObs.seeded(n_experiments=30) as fake:
        reader_env(fake)
        module = load_module(sample.source, sample.name)
        app = module["create_app"]()
        async with test_utils.TestClient(test_utils.TestServer(app)) as http:
            shared = app[module["LLMOBS"]]
            response = await http.get(f"/projects/{fake.project_id}/experiments?limit=5")
            assert response.status == 200
            body = await response.json()
            assert [item["id"] for item in body] == [e["id"] for e in live(fake)][:5]
            response = await http.get(f"/projects/{fake.project_id}/experiments?limit=-1")
            assert response.status == 400
            fake.inject(*[Fault.status(404)])
            response = await http.get(f"/projects/{fake.project_id}/experiments")
            assert response.status == 502
            assert app[module["LLMOBS"]] is shared  # one client for every request
        assert len({r.headers["User-Agent"] for r in fake.requests}) == 1


async def test_fastapi_backend_sample(reader_env: Callable[[FakeLLMObs], None]) -> None:
    sample = block("fastapi_backend.py")
    async with FakeLLMObs.seeded(n_experiments=30) as fake:
        reader_env(fake)
        app = load_module(sample.source, sample.name)["create_app"]()
        async with app.router.lifespan_context(app):
            client = app.state.llmobs
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                response = await http.get(
                    f"/projects/{fake.project_id}/experiments", params={"limit": 3}
                )
                assert response.status_code == 200
                assert [i["id"] for i in response.json()] == [e["id"] for e in live(fake)][:3]
                response = await http.get(f"/projects/{fake.project_id}/experiments?limit=-1")
                assert response.status_code == 400
                fake.inject(Fault.status(404))
                response = await http.get(f"/projects/{fake.project_id}/experiments")
                assert response.status_code == 502
            assert app.state.llmobs is client
        assert client._session.closed  # the lifespan closed it


def test_every_app_block_is_tested() -> None:
    assert {b.title for b in BLOCKS if b.kind == "app"} == {
        "aiohttp_backend.py",
        "fastapi_backend.py",
    }


# --------------------------------------------------------------------------- pytest files


PYTEST_BLOCKS = [b for b in BLOCKS if b.kind == "pytest"]
# A sample that marks its module runs under pytest-asyncio's default (strict) mode too, as
# docs/testing.md says it does.
MODES = [(b, "auto") for b in PYTEST_BLOCKS] + [
    (b, "strict") for b in PYTEST_BLOCKS if "pytestmark = pytest.mark.asyncio" in b.source
]


def test_a_pytest_sample_shows_strict_mode() -> None:
    assert any(mode == "strict" for _block, mode in MODES)


@pytest.mark.parametrize(("sample", "mode"), MODES, ids=lambda v: getattr(v, "name", v))
def test_pytest_block_passes_as_its_own_session(sample: Block, mode: str, tmp_path: Path) -> None:
    path = tmp_path / (sample.title or "test_sample.py")
    path.write_text(sample.source)
    (tmp_path / "pytest.ini").write_text(  # the settings the page asks for
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tests = len(re.findall(r"^(?:async )?def test_", sample.source, re.M))
    assert f"{tests} passed" in result.stdout


# --------------------------------------------------------------------------- the pages


def all_blocks() -> Iterator[Block]:
    for page in PAGES:
        yield from code_blocks(page)


def test_no_page_includes_a_file() -> None:
    for page in PAGES:
        assert "--8<--" not in page.read_text(), f"{page.name} includes a file"


def test_every_python_block_is_complete() -> None:
    """Imports and an entry point in the block itself: nothing a reader has to add."""
    assert len(BLOCKS) > 25
    for sample in BLOCKS:
        compile(sample.source, sample.name, "exec", dont_inherit=True)
        if sample.kind == "script":
            assert "asyncio.run(" in sample.source or "FakeLLMObs" not in sample.source, sample
            assert re.search(r"^asyncio\.run\(", sample.source, re.M), sample.name


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
    on_disk = {page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md")}
    assert on_disk <= in_nav
    assert in_nav <= on_disk


def test_changelog_has_this_version() -> None:
    changelog = (DOCS / "changelog.md").read_text()
    assert "## [Unreleased]" in changelog
    assert re.search(
        rf"^## \[{re.escape(dd.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M
    )


def test_license_matches_the_project_metadata() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license = "MIT"$|^license = \{ ?text = "MIT" ?\}$', pyproject, re.M)
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    urls = re.findall(r'^(\w+) = "(https://[^"]+)"$', pyproject.split("[project.urls]")[1], re.M)
    assert urls, "project URLs"
    repository = dict(urls)["Repository"]
    for name, url in urls:
        assert url.startswith(repository), f"{name} does not name the repository"
