"""``list_experiment_events`` / ``list_experiment_event_pages`` / ``get_experiment_results``
against the fake (and a raw server where the fake cannot misbehave enough), over HTTP."""

from __future__ import annotations

import gc
import json
import statistics
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import ddllmobs_async as dd
from ddllmobs_async.testing import FakeLLMObs, Fault
from tests.conftest import ClientFactory
from tests.raw_servers import Reply, Request, serving
from tests.results_openapi import validate

BIG = 2**53 + 12_345  # not representable as a float


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMObs]:
    async with FakeLLMObs.seeded(n_experiments=6, events_per_experiment=6) as server:
        yield server


def first_id(fake: FakeLLMObs) -> str:
    experiment_id: str = fake.experiments[0]["id"]
    return experiment_id


def wire_ids(spans: list[dict[str, Any]]) -> list[str]:
    return [span["span_id"] for span in spans]


async def collect(stream: AsyncIterator[dd.ExperimentSpan]) -> list[dd.ExperimentSpan]:
    return [span async for span in stream]


# --- streaming -----------------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["null", "empty", "no-meta"])
async def test_streams_every_span_in_order_whatever_the_last_page_says(
    end: str, make_client: ClientFactory
) -> None:
    async with FakeLLMObs.seeded(n_experiments=2, events_per_experiment=6, events_end=end) as fake:
        experiment_id = first_id(fake)
        wire, _ = fake.experiment_events(experiment_id)
        assert len(wire) > 6  # root spans and their children
        spans = await collect(make_client(fake).list_experiment_events(experiment_id, page_size=4))
        assert [s.span_id for s in spans] == wire_ids(wire)
        requests = fake.requests_to("events")
        assert len(requests) == -(-len(wire) // 4)
        assert [r.param("page[limit]") for r in requests] == ["4"] * len(requests)
        assert requests[0].param("page[cursor]") is None
        assert all(r.param("page[cursor]") for r in requests[1:])


async def test_spans_carry_what_the_fake_sent(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    experiment_id = first_id(fake)
    wire, _ = fake.experiment_events(experiment_id)
    spans = await collect(client.list_experiment_events(experiment_id))
    assert len(fake.requests_to("events")) == 1  # page[limit] defaults to the server's 5000
    for raw, span in zip(wire, spans, strict=True):
        assert span.start_ns == raw["start_ns"] > 2**53
        assert span.duration_ns == raw["duration"]
        assert span.parent_id == raw.get("parent_id")
        assert span.input == raw["meta"]["input"] and span.output == raw["meta"]["output"]
        assert [m.id for m in span.eval_metrics] == [m["id"] for m in raw["eval_metrics"]]
    kinds = {m.metric_type for s in spans for m in s.eval_metrics}
    assert kinds == set(dd.MetricType)
    assert any(s.parent_id is not None for s in spans)


async def test_the_data_set_has_errors_and_realistic_sizes(make_client: ClientFactory) -> None:
    async with FakeLLMObs.seeded(n_experiments=12) as fake:
        client = make_client(fake)
        spans = [
            span
            for experiment in fake.experiments
            async for span in client.list_experiment_events(experiment["id"])
        ]
    failed = [s for s in spans if s.status is dd.SpanStatus.ERROR]
    assert failed and all(s.error and s.error.type and s.output is None for s in failed)
    sizes = [len(str(s.input)) + len(str(s.output)) for s in spans if s.parent_id is None]
    assert min(sizes) >= 200 and max(sizes) >= 2000
    assert {type(s.input) for s in spans} >= {dict, list, str}


async def test_lazy_max_items_and_prefetch(fake: FakeLLMObs, make_client: ClientFactory) -> None:
    experiment_id = first_id(fake)
    wire, _ = fake.experiment_events(experiment_id)
    client = make_client(fake)
    stream = client.list_experiment_events(experiment_id, page_size=3)
    first = await anext(stream)
    assert first.span_id == wire[0]["span_id"]
    assert len(fake.requests_to("events")) == 1  # nothing fetched ahead
    await stream.aclose()
    assert len(fake.requests_to("events")) == 1

    fake.reset_requests()
    limited = await collect(client.list_experiment_events(experiment_id, page_size=3, max_items=4))
    assert [s.span_id for s in limited] == wire_ids(wire)[:4]
    assert [r.param("page[limit]") for r in fake.requests_to("events")] == ["3", "1"]

    ahead = await collect(client.list_experiment_events(experiment_id, page_size=2, prefetch=2))
    assert [s.span_id for s in ahead] == wire_ids(wire)


async def test_pages_carry_cursors_and_resume(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    experiment_id = first_id(fake)
    wire, summary = fake.experiment_events(experiment_id)
    pages = [p async for p in client.list_experiment_event_pages(experiment_id, page_size=5)]
    assert pages[0].cursor is None and pages[-1].next_cursor is None
    assert [p.cursor for p in pages[1:]] == [p.next_cursor for p in pages[:-1]]
    assert all(len(p.summary_metrics) == len(summary) for p in pages)  # "every" by default
    resumed = await collect(client.list_experiment_events(experiment_id, cursor=pages[1].cursor))
    assert [s.span_id for s in resumed] == wire_ids(wire)[5:]


async def test_resumes_from_err_cursor_after_a_mid_stream_500(
    fake: FakeLLMObs, make_client: ClientFactory
) -> None:
    experiment_id = first_id(fake)
    wire, _ = fake.experiment_events(experiment_id)
    client = make_client(fake, max_retries=0, retry_policy=None)
    fake.inject(Fault.delay(0.001), Fault.status(500), endpoint="events")
    seen: list[dd.ExperimentSpan] = []

    async def read_all() -> None:
        async for span in client.list_experiment_events(experiment_id, page_size=3):
            seen.append(span)

    with pytest.raises(dd.ServerError) as caught:
        await read_all()
    failed_cursor = fake.requests_to("events")[-1].param("page[cursor]")
    assert caught.value.cursor == failed_cursor is not None
    assert len(seen) == 3
    rest = await collect(
        client.list_experiment_events(experiment_id, page_size=3, cursor=caught.value.cursor)
    )
    assert [s.span_id for s in seen + rest] == wire_ids(wire)


async def test_retries_and_rate_limits_apply_to_the_new_route(make_client: ClientFactory) -> None:
    async with FakeLLMObs.seeded(
        n_experiments=1, events_per_experiment=8, rate_limit=(2, 0.2), integer_reset=False
    ) as fake:
        experiment_id = first_id(fake)
        fake.inject(Fault.status(503), Fault.rate_limited(reset=0.05), endpoint="events")
        spans = await collect(make_client(fake).list_experiment_events(experiment_id, page_size=2))
        assert [s.span_id for s in spans] == wire_ids(fake.experiment_events(experiment_id)[0])
        assert fake.stats.rate_limited >= 1
        assert {r.endpoint for r in fake.requests} == {"events"}
        assert [r.status for r in fake.requests_to("events")][:2] == [503, 429]


# --- results -------------------------------------------------------------------------------------


@pytest.mark.parametrize("placement", ["every", "first", "last"])
async def test_results_collect_every_page_and_summary_once(
    placement: str, make_client: ClientFactory
) -> None:
    async with FakeLLMObs.seeded(
        n_experiments=2,
        events_per_experiment=6,
        summary_pages=placement,
    ) as fake:
        experiment_id = first_id(fake)
        wire, summary = fake.experiment_events(experiment_id)
        results = await make_client(fake).get_experiment_results(experiment_id, page_size=3)
        assert len(fake.requests_to("events")) > 2
    assert results.experiment_id == experiment_id
    assert [s.span_id for s in results.spans] == wire_ids(wire)
    assert [(m.id, m.label, m.value) for m in results.summary_metrics] == [
        (m["id"], m["label"], m.get("score_value", m.get("boolean_value"))) for m in summary
    ]


async def test_results_agree_with_aggregate(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    for experiment in fake.experiments[:3]:
        results = await client.get_experiment_results(experiment["id"])
        aggregated = await client.aggregate(
            dd.AggregateQuery(
                compute=[dd.Compute("score_value", name="avg")],
                indexes=["experiment-evals"],
                query=f"@experiment_id:{experiment['id']}",
                group_by=["label"],
            )
        )
        by_label = {b.by["label"]: b.metrics for b in aggregated.buckets}
        summary = {m.label: m.score_value for m in results.summary_metrics}
        for label, metrics in by_label.items():
            scores = [m.score_value for m in results.evals(label) if m.score_value is not None]
            assert metrics["avg"] == pytest.approx(statistics.fmean(scores))
            assert summary[label] == pytest.approx(metrics["avg"])
        assert set(by_label) == {
            m.label for s in results.spans for m in s.eval_metrics if m.metric_type == "score"
        }


# --- ids, paths and errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["", "a/b", "a?b", "a#b", "a b", "a\tb", "a\nb", ".", "..", None, 3]
)
async def test_rejected_ids_fail_before_any_request(
    bad: Any, fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    with pytest.raises(ValueError, match="experiment_id"):
        await anext(client.list_experiment_events(bad))
    with pytest.raises(ValueError, match="experiment_id"):
        await client.get_experiment_results(bad)
    assert fake.requests == []


@pytest.mark.parametrize("size", [0, 5001, -1])
async def test_page_size_is_checked_before_any_request(
    size: int, fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    with pytest.raises(ValueError, match="page_size"):
        await anext(client.list_experiment_events(first_id(fake), page_size=size))
    assert fake.requests == []


async def test_the_id_is_percent_encoded_in_the_path(
    fake: FakeLLMObs, client: dd.LLMObsClient
) -> None:
    odd = "run+1%done:é;x=y&z"
    fake.set_experiment_events(odd, [{"span_id": "s1"}])
    spans = await collect(client.list_experiment_events(odd))
    assert [s.span_id for s in spans] == ["s1"]
    assert fake.requests_to("events")[0].path == f"/api/v2/llm-obs/v3/experiments/{odd}/events"
    async with serving([Reply(body=b'{"data": {"attributes": {"spans": []}}}')]) as (
        raw,
        raw_client,
    ):
        await collect(raw_client.list_experiment_events(odd))
    (request,) = raw.requests
    assert request.path.startswith("/api/v2/llm-obs/v3/experiments/run%2B1%25done")
    assert request.path.endswith("/events") and "é" not in request.target


async def test_ids_made_of_dots_stay_in_the_path(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    for dotted in ("...", "a.b", ".hidden"):
        fake.set_experiment_events(dotted, [{"span_id": dotted}])
        spans = await collect(client.list_experiment_events(dotted))
        assert [s.span_id for s in spans] == [dotted]
        assert fake.requests[-1].path == f"/api/v2/llm-obs/v3/experiments/{dotted}/events"


async def test_unknown_experiment_is_not_found(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    with pytest.raises(dd.NotFoundError) as caught:
        await anext(client.list_experiment_events("0000-no-such-experiment"))
    assert caught.value.status == 404 and caught.value.cursor is None
    with pytest.raises(dd.NotFoundError):
        await client.get_experiment_results("0000-no-such-experiment")


async def test_odd_spans_over_http(fake: FakeLLMObs, client: dd.LLMObsClient) -> None:
    fake.set_experiment_events(
        "odd",
        [
            {},
            {
                "span_id": "big",
                "start_ns": BIG,
                "status": "cancelled",
                "meta": {"input": [1, "a", {"b": None}], "output": 7},
            },
            {
                "span_id": "m",
                "eval_metrics": [{"metric_type": "histogram", "assessment": "maybe"}, {}],
            },
        ],
        [{"label": "no-id", "score_value": 1.0}],
    )
    empty, big, odd = await collect(client.list_experiment_events("odd"))
    assert empty == dd.ExperimentSpan()
    assert big.start_ns == BIG and type(big.start_ns) is int
    assert big.status == "cancelled" and big.input == [1, "a", {"b": None}] and big.output == 7
    assert [m.metric_type for m in odd.eval_metrics] == ["histogram", None]
    assert odd.eval_metrics[0].assessment == "maybe"
    results = await client.get_experiment_results("odd", page_size=1)
    assert [m.label for m in results.summary_metrics] == ["no-id"]  # once, by content
    assert [s.span_id for s in results.spans] == [None, "big", "m"]


async def test_a_server_repeating_its_cursor_is_stopped() -> None:
    page = b'{"data": {"attributes": {"spans": [{"span_id": "s"}], "summary_metrics": []}}, "meta": {"after": "same"}}'
    async with serving([Reply(body=page)]) as (raw, client):
        stream = client.list_experiment_events("e")
        with pytest.raises(dd.ResponseValidationError) as caught:
            await collect(stream)
    assert len(raw.requests) == 2
    assert caught.value.cursor == "same"


async def test_overlapping_pages_yield_each_span_once() -> None:
    def page(ids: list[str], after: str | None) -> Reply:
        spans = ",".join(f'{{"span_id": "{i}", "trace_id": "t"}}' for i in ids)
        meta = "null" if after is None else f'"{after}"'
        return Reply(
            body=f'{{"data": {{"attributes": {{"spans": [{spans}], "summary_metrics": []}}}}, "meta": {{"after": {meta}}}}}'.encode()
        )

    async with serving([page(["a", "b"], "c1"), page(["b", "c"], None)]) as (_, client):
        spans = await collect(client.list_experiment_events("e"))
    assert [s.span_id for s in spans] == ["a", "b", "c"]


def spans_page(spans: list[dict[str, Any]], after: str | None) -> bytes:
    body = {"data": {"attributes": {"spans": spans}}, "meta": {"after": after}}
    return json.dumps(body).encode()


@pytest.mark.parametrize("spans_per_page", [1, 3])
async def test_spans_without_ids_are_never_dropped(spans_per_page: int) -> None:
    pages = 30

    def answer(request: Request) -> Reply:  # each span distinct, none with an id
        cursor = request.param("page[cursor]")
        index = int(cursor) if cursor else 0
        spans = [
            {"trace_id": f"t{index}", "meta": {"input": [index, n]}} for n in range(spans_per_page)
        ]
        return Reply(body=spans_page(spans, str(index + 1) if index + 1 < pages else None))

    async with serving(answer) as (_, client):
        streamed = await collect(client.list_experiment_events("e"))
        gc.collect()  # ids of freed objects are reused: no identity may rest on them
        results = await client.get_experiment_results("e")
    expected = [[index, n] for index in range(pages) for n in range(spans_per_page)]
    assert [s.input for s in streamed] == expected
    assert [s.input for s in results.spans] == expected


async def test_the_same_id_less_page_again_and_again_is_streamed_as_sent() -> None:
    page = spans_page([{"name": "no id"}], None)
    repeated = [Reply(body=spans_page([{"name": "no id"}], f"c{i}")) for i in range(12)]
    async with serving([*repeated, Reply(body=page)]) as (_, client):
        spans = await collect(client.list_experiment_events("e"))
    assert len(spans) == 13  # nothing tells these spans apart: none is taken for another


# --- the fake's answers follow the API's schema ---------------------------------------------------


@pytest.mark.parametrize("end", ["null", "empty", "no-meta"])
async def test_fake_events_pages_match_the_openapi_schema(end: str, http: Any) -> None:
    async with FakeLLMObs.seeded(n_experiments=3, events_end=end, summary_pages="first") as fake:
        headers = {"DD-API-KEY": fake.api_key, "DD-APPLICATION-KEY": fake.app_key}
        for experiment in fake.experiments:
            url = f"{fake.url}/api/v2/llm-obs/v3/experiments/{experiment['id']}/events"
            cursor: str | None = None
            while True:
                params = {"page[limit]": "3", **({"page[cursor]": cursor} if cursor else {})}
                async with http.get(url, params=params, headers=headers) as response:
                    assert response.status == 200
                    document = await response.json(content_type=None)
                validate("LLMObsExperimentEventsV2Response", document)
                cursor = (document.get("meta") or {}).get("after")
                if not cursor:
                    break
        async with http.get(
            f"{fake.url}/api/v2/llm-obs/v3/experiments/nope/events", headers=headers
        ) as response:
            assert response.status == 404
            validate("JSONAPIErrorResponse", await response.json(content_type=None))


def test_example_pages_match_the_openapi_schema() -> None:
    import json

    for name in ("list-experiment-events", "list-projects"):
        schema = (
            "LLMObsExperimentEventsV2Response" if "events" in name else "LLMObsProjectsResponse"
        )
        for page in (1, 2):
            path = Path(__file__).parent / "data" / "results" / f"{name}.response.page{page}.json"
            validate(schema, json.loads(path.read_text())["body"])


async def test_empty_pages_with_a_cursor_are_followed(make_client: ClientFactory) -> None:
    async with FakeLLMObs.seeded(
        n_experiments=1, events_per_experiment=8, empty_pages_every=2
    ) as fake:
        experiment_id = first_id(fake)
        pages = [
            p
            async for p in make_client(fake).list_experiment_event_pages(experiment_id, page_size=3)
        ]
        assert [len(p.spans) for p in pages][:2] == [3, 0]
        spans = [s.span_id for p in pages for s in p.spans]
        assert spans == wire_ids(fake.experiment_events(experiment_id)[0])
