"""Experiment-events and projects models and their converters, from decoded JSON bodies.

The validated example pages of the API reference (``tests/data/results/``) structure into
the models field by field; every span and eval field may be absent; enum values the library
does not know stay strings; ``start_ns`` stays exact beyond 2**53 with either JSON decoder;
a body of the wrong shape is a ``ResponseValidationError`` naming the member as sent.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ddllmobs_async as dd
from ddllmobs_async import _json
from ddllmobs_async._converters.events import structure_events_page, structure_span
from ddllmobs_async._converters.fast_events import fast_span
from ddllmobs_async._converters.projects import structure_project_page
from ddllmobs_async._endpoints.events import merge_summary_metrics

DATA = Path(__file__).parent / "data" / "results"


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return document


def events_body(spans: list[Any], summary: Any = (), after: Any = None) -> dict[str, Any]:
    return {
        "data": {
            "id": "exp-1",
            "type": "experiment_events",
            "attributes": {"spans": spans, "summary_metrics": list(summary)},
        },
        "meta": {"after": after},
    }


# --- the reference's example pages ------------------------------------------------------------


def test_example_events_page_1_structures_every_field() -> None:
    page = structure_events_page(example("list-experiment-events.response.page1")["body"])
    assert page.next_cursor == "eyJwIjoyLCJzIjoiNDQ3MzI5MDgxNzc2MjM1MDI5MyJ9"
    assert page.cursor is None
    first, failed = page.spans
    assert first == dd.ExperimentSpan(
        id="4473290817762350291",
        span_id="4473290817762350291",
        trace_id="6a87092900000000b3c1d2e4f5a6b7c8",
        name="summarize_ticket",
        status=dd.SpanStatus.OK,
        start_ns=1787234601123456789,
        duration_ns=1843520000.0,
        dataset_record_id="rec-7c3f5a1b-9e2d-4f8a-b1c6-3d7e9f0a2b4c",
        tags=["env:staging", "model:gpt-4o-mini"],
        metrics={"input_tokens": 412.0, "output_tokens": 96.0, "total_tokens": 508.0},
        input={
            "ticket": "My invoice for July was charged twice. Please refund one of the charges."
        },
        output="Customer was double-charged for the July invoice and asks for a refund of one charge.",
        expected_output={"summary": "Duplicate July charge; customer requests refund."},
        eval_metrics=[
            dd.EvalMetric(
                id="0e6b2f1a-8c4d-4b9e-a2f3-7d5c1e9b3a40",
                span_id="4473290817762350291",
                trace_id="6a87092900000000b3c1d2e4f5a6b7c8",
                label="faithfulness",
                metric_type=dd.MetricType.SCORE,
                score_value=0.92,
                assessment=dd.Assessment.PASS,
                reasoning="All facts in the summary appear in the ticket.",
                metric_source="custom",
                timestamp_ms=1787234603511,
                tags=["judge:llm"],
                metadata={"judge_model": "gpt-4o-mini"},
            ),
            dd.EvalMetric(
                id="9c3e7a5d-2b1f-4e8c-b6a0-5f4d3c2b1a09",
                span_id="4473290817762350291",
                trace_id="6a87092900000000b3c1d2e4f5a6b7c8",
                label="exact_match",
                metric_type=dd.MetricType.BOOLEAN,
                boolean_value=False,
                metric_source="custom",
                timestamp_ms=1787234603514,
            ),
        ],
    )
    assert first.start == datetime.fromtimestamp(1787234601, UTC).replace(microsecond=123456)
    assert [m.value for m in first.eval_metrics] == [0.92, False]
    assert failed.status is dd.SpanStatus.ERROR
    assert failed.output is None
    assert failed.eval_metrics == []
    assert failed.error == dd.SpanError(
        type="TimeoutError",
        message="Model response timed out",
        stack='Traceback (most recent call last):\n  File "task.py", line 18, in summarize_ticket'
        "\nTimeoutError: Model response timed out",
    )
    assert [(m.label, m.value, m.metric_source) for m in page.summary_metrics] == [
        ("accuracy", 0.6667, "summary"),
        ("all_passed", False, "summary"),
    ]


def test_example_events_page_2_is_the_last_with_array_input_and_every_metric_type() -> None:
    page = structure_events_page(
        example("list-experiment-events.response.page2")["body"], cursor="c"
    )
    assert page.next_cursor is None  # "after": null
    assert page.cursor == "c"
    (span,) = page.spans
    assert span.input == ["Password reset email never arrives.", "Tried twice today."]
    tone, rubric = span.eval_metrics
    assert (tone.metric_type, tone.value) == (dd.MetricType.CATEGORICAL, "neutral")
    assert (rubric.metric_type, rubric.value) == (
        dd.MetricType.JSON,
        {"clarity": 4, "completeness": 3, "max": 5},
    )
    assert rubric.assessment is dd.Assessment.PASS


def test_example_project_pages() -> None:
    first = structure_project_page(example("list-projects.response.page1")["body"])
    assert first.next_cursor == "cHJvamVjdHM6MjAyNi0wOC0xMlQwOTo0MTowMy4yMTVaOmU0YjI"
    assert first.projects[0] == dd.Project(
        id="e4b2c7d1-6a3f-4e9b-8c0d-1f2a3b4c5d6e",
        name="support-bot-evals",
        description="Offline evals for the support summarizer.",
        created_at=datetime(2026, 8, 19, 16, 22, 47, 901000, tzinfo=UTC),
        updated_at=datetime(2026, 8, 20, 8, 5, 12, 334000, tzinfo=UTC),
    )
    assert first.projects[1].description is None  # required and nullable
    last = structure_project_page(example("list-projects.response.page2")["body"])
    assert last.next_cursor is None  # no "meta" at all
    assert [(p.name, p.description) for p in last.projects] == [("rag-pipeline", "")]


# --- every reading the sources leave open ----------------------------------------------------


@pytest.mark.parametrize(
    "meta", [None, {}, {"after": None}, {"after": ""}], ids=["no-meta", "{}", "null", "empty"]
)
def test_every_end_of_pages_form_ends(meta: dict[str, Any] | None) -> None:
    body = events_body([])
    del body["meta"]
    if meta is not None:
        body["meta"] = meta
    assert structure_events_page(body).next_cursor is None
    projects: dict[str, Any] = {"data": []}
    if meta is not None:
        projects["meta"] = meta
    assert structure_project_page(projects).next_cursor is None


@pytest.mark.parametrize("summary", [None, "absent"])
def test_summary_metrics_absent_or_null_read_as_none(summary: str | None) -> None:
    body = events_body([{}])
    if summary == "absent":
        del body["data"]["attributes"]["summary_metrics"]
    else:
        body["data"]["attributes"]["summary_metrics"] = None
    assert structure_events_page(body).summary_metrics == []


def test_every_span_and_eval_field_may_be_absent() -> None:
    page = structure_events_page(events_body([{}, {"meta": {}, "eval_metrics": [{}]}], [{}]))
    assert page.spans[0] == dd.ExperimentSpan()
    assert page.spans[0].start is None
    assert page.spans[0].tags == [] and page.spans[0].metrics == {}
    assert page.spans[1].eval_metrics == [dd.EvalMetric()]
    assert page.spans[1].eval_metrics[0].value is None
    assert page.summary_metrics == [dd.EvalMetric()]


def test_nullable_members_read_as_none_or_empty() -> None:
    span = {
        "dataset_record_id": None,
        "meta": {"input": None, "output": None},
        "eval_metrics": [
            {"score_value": None, "json_value": None, "metadata": None, "reasoning": None}
        ],
    }
    (parsed,) = structure_events_page(events_body([span])).spans
    assert parsed.dataset_record_id is None and parsed.input is None
    assert parsed.eval_metrics[0].metadata == {}


def test_unknown_enum_values_stay_strings() -> None:
    span = {
        "status": "cancelled",
        "eval_metrics": [
            {"metric_type": "histogram", "assessment": "skip", "categorical_value": "x"},
            {"metric_type": "score", "assessment": "fail", "score_value": 0.1},
        ],
    }
    (parsed,) = structure_events_page(events_body([span])).spans
    assert parsed.status == "cancelled" and not isinstance(parsed.status, dd.SpanStatus)
    unknown, known = parsed.eval_metrics
    assert unknown.metric_type == "histogram" and not isinstance(unknown.metric_type, dd.MetricType)
    assert unknown.assessment == "skip" and not isinstance(unknown.assessment, dd.Assessment)
    assert unknown.value == "x"  # an unknown type: the first value present
    assert known.metric_type is dd.MetricType.SCORE and known.assessment is dd.Assessment.FAIL


@pytest.mark.parametrize(
    "value",
    [
        "plain text",
        42,
        0.5,
        True,
        None,
        {"nested": {"deep": [1, "two", {"three": 3}]}},
        ["a", 1, {"b": True}, False],
    ],
)
def test_inputs_and_outputs_are_any_json_value_as_sent(value: Any) -> None:
    span = {"meta": {"input": value, "output": value, "expected_output": value}}
    (parsed,) = structure_events_page(events_body([span])).spans
    assert parsed.input == value and type(parsed.input) is type(value)
    assert parsed.output == value and parsed.expected_output == value


@pytest.mark.parametrize("loads", [json.loads, _json.loads], ids=["json", "backend"])
def test_start_ns_beyond_2_to_the_53_stays_exact(loads: Any) -> None:
    start_ns = 2**53 + 1  # a float would round it to 2**53
    huge = 9_223_372_036_854_775_807  # int64 max
    text = json.dumps(events_body([{"start_ns": start_ns}, {"start_ns": huge}]))
    spans = structure_events_page(loads(text)).spans
    assert [s.start_ns for s in spans] == [start_ns, huge]
    assert all(type(s.start_ns) is int for s in spans)
    assert spans[0].start == datetime.fromtimestamp(9007199, UTC).replace(microsecond=254740)


def test_eval_value_follows_metric_type() -> None:
    expectations: list[tuple[str, Any]] = [
        ("score", 0.3),
        ("categorical", "c"),
        ("boolean", True),
        ("json", {}),
    ]
    for kind, expected in expectations:
        every = dd.EvalMetric(
            metric_type=kind,
            score_value=0.3,
            categorical_value="c",
            boolean_value=True,
            json_value={},
        )
        assert every.value == expected
    assert dd.EvalMetric(metric_type=dd.MetricType.BOOLEAN, boolean_value=False).value is False
    assert dd.EvalMetric(metric_type="new", boolean_value=False).value is False


# --- wrong shapes name the member as sent -----------------------------------------------------


def _with(change: Any) -> dict[str, Any]:
    body = copy.deepcopy(example("list-experiment-events.response.page1")["body"])
    change(body["data"]["attributes"]["spans"][1])
    result: dict[str, Any] = body
    return result


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "$.data"),
        ({"data": []}, "$.data"),
        ({"data": {"id": "e"}}, "$.data.attributes"),
        ({"data": {"attributes": {"summary_metrics": []}}}, "$.data.attributes.spans"),
        ({"data": {"attributes": {"spans": {}}}}, "$.data.attributes.spans"),
        (events_body([[]]), "$.data.attributes.spans[0]"),
        (events_body([{"meta": "x"}]), "$.data.attributes.spans[0].meta"),
        (
            events_body([], summary=[{"score_value": "high"}]),
            "$.data.attributes.summary_metrics[0].score_value",
        ),
        (events_body([], after=5), "$.meta.after"),
        (_with(lambda s: s.update(duration="long")), "$.data.attributes.spans[1].duration"),
        (_with(lambda s: s.update(start_ns=1.5)), "$.data.attributes.spans[1].start_ns"),
        (
            _with(lambda s: s["meta"]["error"].update(type=3)),
            "$.data.attributes.spans[1].meta.error.type",
        ),
        (_with(lambda s: s.update(tags="a:b")), "$.data.attributes.spans[1].tags"),
        (
            _with(lambda s: s.update(eval_metrics=[{"boolean_value": "yes"}])),
            "$.data.attributes.spans[1].eval_metrics[0].boolean_value",
        ),
    ],
)
def test_wrong_shapes_are_validation_errors_with_the_path(body: Any, path: str) -> None:
    with pytest.raises(dd.ResponseValidationError) as caught:
        structure_events_page(body)
    assert caught.value.path == path
    assert path in str(caught.value)


@pytest.mark.parametrize(
    ("item", "path"),
    [
        ({"type": "projects", "attributes": {"name": "n"}}, "$.data[0].id"),
        ({"id": "p", "attributes": {"name": 3}}, "$.data[0].attributes.name"),
        (
            {"id": "p", "attributes": {"name": "n", "created_at": "yesterday"}},
            "$.data[0].attributes.created_at",
        ),
    ],
)
def test_wrong_project_shapes_name_the_member(item: Any, path: str) -> None:
    with pytest.raises(dd.ResponseValidationError) as caught:
        structure_project_page({"data": [item]})
    assert caught.value.path == path


# --- summary metrics across pages -------------------------------------------------------------


def test_summary_metrics_merge_by_id_first_seen_wins_never_added_up() -> None:
    accuracy = dd.EvalMetric(id="a", label="accuracy", score_value=0.5)
    later_accuracy = dd.EvalMetric(id="a", label="accuracy", score_value=0.9)
    passed = dd.EvalMetric(id="b", label="all_passed", boolean_value=True)
    anonymous = dd.EvalMetric(label="cost", score_value=1.0)
    other_anonymous = dd.EvalMetric(label="cost", score_value=2.0)
    merged = merge_summary_metrics(
        [[accuracy, passed, anonymous], [later_accuracy, anonymous], [other_anonymous, passed], []]
    )
    assert merged == [accuracy, passed, anonymous, other_anonymous]
    assert merged[0].score_value == 0.5


def test_results_evals_by_label() -> None:
    span = dd.ExperimentSpan(
        eval_metrics=[dd.EvalMetric(label="a", score_value=1.0), dd.EvalMetric(label="b")]
    )
    results = dd.ExperimentResults(experiment_id="e", spans=[span, span])
    assert [m.score_value for m in results.evals("a")] == [1.0, 1.0]
    assert results.evals("missing") == []


# --- the fast path and the cattrs path agree ---------------------------------------------------

_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
_WRONG = st.sampled_from([None, True, 1, 1.5, "x", [], ["x"], {}, {"a": 1}, [1]])


def _field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, valid, _WRONG)


_METRIC = st.fixed_dictionaries(
    {},
    optional={
        "id": _field(st.text(max_size=4)),
        "label": _field(st.sampled_from(["faithfulness", "tone"])),
        "metric_type": _field(st.sampled_from(["score", "categorical", "boolean", "json", "new"])),
        "score_value": _field(st.floats(allow_nan=False) | st.integers()),
        "categorical_value": _field(st.text(max_size=4)),
        "boolean_value": _field(st.booleans()),
        "json_value": _ANY_JSON,
        "assessment": _field(st.sampled_from(["pass", "fail", "skip"])),
        "reasoning": _field(st.text(max_size=4)),
        "timestamp_ms": _field(st.integers()),
        "tags": _field(st.lists(st.text(max_size=3), max_size=2)),
        "metadata": _field(st.dictionaries(st.text(max_size=3), _ANY_JSON, max_size=2)),
    },
)
_SPAN = st.fixed_dictionaries(
    {},
    optional={
        "span_id": _field(st.text(max_size=4)),
        "parent_id": _field(st.text(max_size=4)),
        "status": _field(st.sampled_from(["ok", "error", "cancelled"])),
        "start_ns": _field(st.integers(min_value=0, max_value=2**63 - 1)),
        "duration": _field(st.floats(allow_nan=False) | st.integers()),
        "tags": _field(st.lists(st.text(max_size=3), max_size=2)),
        "metrics": _field(
            st.dictionaries(
                st.text(max_size=3), st.integers() | st.floats(allow_nan=False), max_size=2
            )
        ),
        "meta": _field(
            st.fixed_dictionaries(
                {},
                optional={
                    "input": _ANY_JSON,
                    "output": _ANY_JSON,
                    "expected_output": _ANY_JSON,
                    "error": _field(
                        st.fixed_dictionaries({}, optional={"type": _field(st.text(max_size=3))})
                    ),
                },
            )
        ),
        "eval_metrics": _field(st.lists(_METRIC, max_size=2)),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SPAN)
def test_fast_path_and_cattrs_path_agree(span: dict[str, Any]) -> None:
    try:
        fast: dd.ExperimentSpan | None = fast_span(span)
    except (TypeError, ValueError):
        fast = None
    try:
        detailed: dd.ExperimentSpan | None = structure_span(span, path="$.s")
    except dd.ResponseValidationError:
        detailed = None
    assert fast == detailed


def test_results_and_projects_build_in_the_order_the_contract_writes_them() -> None:
    span = dd.ExperimentSpan(span_id="s1")
    summary = dd.EvalMetric(id="m1", label="acc", metric_type="score", score_value=0.5)
    results = dd.ExperimentResults("exp-1", [span], [summary])
    assert (results.experiment_id, results.spans, results.summary_metrics) == (
        "exp-1",
        [span],
        [summary],
    )
    assert results == dd.ExperimentResults(
        experiment_id="exp-1", spans=[span], summary_metrics=[summary]
    )
    created = datetime(2026, 1, 2, tzinfo=UTC)
    project = dd.Project("p1", "support-bot", "the bot", created, None)
    assert (project.id, project.name, project.description, project.created_at) == (
        "p1",
        "support-bot",
        "the bot",
        created,
    )
    assert project.updated_at is None
