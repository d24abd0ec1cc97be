"""Wire JSON -> models: timestamps, enums, unknown fields, required fields, error bodies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import ddllmobs_async as dd
from ddllmobs_async import _json
from ddllmobs_async._converters import analytics as conv_analytics
from ddllmobs_async._converters import errors as conv_errors
from ddllmobs_async._converters import experiments as conv_experiments
from ddllmobs_async._converters import parse_datetime

ATTRIBUTES: dict[str, Any] = {
    "aggregate_data": {"faithfulness": {"avg": 0.8}},
    "author": {
        "id": "u-1",
        "name": "Jane Doe",
        "handle": "jane",
        "email": "j@x",
        "icon": "https://i",
    },
    "config": {"model": "gpt"},
    "created_at": "2026-07-20T09:30:04.928462935Z",
    "dataset_id": "9f64e5c7-dc5a-45c8-a17c-1b85f0bec97d",
    "dataset_name": "golden",
    "dataset_version": 4,
    "deleted_at": None,
    "description": "",
    "error": None,
    "experiment": "my-pipeline",
    "metadata": {"branch": "main"},
    "name": "My Experiment v1",
    "parent_experiment_id": "3fd6b5e0-8910-4b1c-a7d0-5b84de329012",
    "project_id": "a33671aa-24fd-4dcd-9b33-a8ec7dde7751",
    "run_count": 3,
    "status": "completed",
    "updated_at": "2024-01-15T10:30:00Z",
}


def page(*attributes: dict[str, Any], after: Any = "c1") -> dict[str, Any]:
    data = [
        {"id": f"e{i}", "type": "experiments", "attributes": a} for i, a in enumerate(attributes)
    ]
    return {"data": data, "meta": {"after": after}}


def test_every_attribute_is_structured() -> None:
    result = conv_experiments.structure_experiment_page(page(ATTRIBUTES))
    exp = result.experiments[0]
    assert result.next_cursor == "c1"
    assert exp.id == "e0"
    assert exp.created_at == datetime(2026, 7, 20, 9, 30, 4, 928462, tzinfo=UTC)
    assert exp.updated_at == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert exp.status is dd.ExperimentStatus.COMPLETED
    assert exp.author == dd.Author(
        id="u-1", name="Jane Doe", handle="jane", email="j@x", icon="https://i"
    )
    assert (exp.dataset_version, exp.run_count, exp.experiment) == (4, 3, "my-pipeline")
    assert exp.metadata == {"branch": "main"} and exp.config == {"model": "gpt"}
    assert exp.aggregate_data == {"faithfulness": {"avg": 0.8}}
    assert exp.parent_experiment_id == "3fd6b5e0-8910-4b1c-a7d0-5b84de329012"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-07-20T09:30:04.928462935Z", datetime(2026, 7, 20, 9, 30, 4, 928462, tzinfo=UTC)),
        ("2019-09-19T10:00:00.000Z", datetime(2019, 9, 19, 10, tzinfo=UTC)),
        ("2024-01-15T10:30:00Z", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        ("2024-01-15T12:30:00+02:00", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        ("2024-01-15t10:30:00.928462935z", datetime(2024, 1, 15, 10, 30, 0, 928462, tzinfo=UTC)),
        ("2024-01-15T05:00:00-05:30", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        ("2024-01-15T10:30:00", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        (
            "2024-01-15T10:30:00.123456789123+00:00",
            datetime(2024, 1, 15, 10, 30, 0, 123456, tzinfo=UTC),
        ),
    ],
)
def test_timestamps_are_aware(raw: str, expected: datetime) -> None:
    parsed = parse_datetime(raw)
    assert parsed == expected and parsed.utcoffset() == timedelta(0)  # UTC, as documented
    assert parsed.isoformat() == expected.isoformat()


def test_unknown_status_is_kept_as_plain_string_and_unknown_fields_ignored() -> None:
    exp = conv_experiments.structure_experiment_page(
        page({**ATTRIBUTES, "status": "paused", "new_field": [1]})
    ).experiments[0]
    assert exp.status == "paused" and not isinstance(exp.status, dd.ExperimentStatus)


def test_optional_attributes_may_be_absent_and_nullable_objects_become_empty() -> None:
    minimal = {
        k: ATTRIBUTES[k] for k in ("created_at", "updated_at", "dataset_id", "name", "project_id")
    }
    exp = conv_experiments.structure_experiment_page(
        page({**minimal, "description": None, "config": None, "metadata": None})
    ).experiments[0]
    assert exp.author is None and exp.status is None and exp.deleted_at is None
    assert exp.config == {} and exp.metadata == {} and exp.description is None


@pytest.mark.parametrize(
    "missing",
    [
        "created_at",
        "name",
        "project_id",
        "dataset_id",
        "metadata",
        "config",
        "description",
        "updated_at",
    ],
)
def test_missing_required_field_names_its_path(missing: str) -> None:
    broken = {k: v for k, v in ATTRIBUTES.items() if k != missing}
    with pytest.raises(dd.ResponseValidationError) as info:
        conv_experiments.structure_experiment_page(page(ATTRIBUTES, broken))
    assert info.value.path == f"$.data[1].attributes.{missing}"
    assert f"$.data[1].attributes.{missing}" in str(info.value)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"meta": {}}, "$.data"),
        ({"data": {}}, "$.data"),
        ({"data": [{"type": "experiments", "attributes": ATTRIBUTES}]}, "$.data[0].id"),
        ({"data": [{"id": "x", "type": "experiments"}]}, "$.data[0].attributes"),
        (
            {"data": [{"id": "x", "attributes": {**ATTRIBUTES, "created_at": 5}}]},
            "$.data[0].attributes.created_at",
        ),
        (
            {"data": [{"id": "x", "attributes": {**ATTRIBUTES, "run_count": "integer"}}]},
            "$.data[0].attributes.run_count",
        ),
        ({"data": [], "meta": {"after": 5}}, "$.meta.after"),
    ],
)
def test_malformed_pages_raise_response_validation_error(body: Any, path: str) -> None:
    with pytest.raises(dd.ResponseValidationError) as info:
        conv_experiments.structure_experiment_page(body)
    assert info.value.path == path


@pytest.mark.parametrize("after", [None, "", "omit"])
def test_absent_null_or_empty_after_ends_the_stream(after: Any) -> None:
    body = page(ATTRIBUTES, after=after)
    if after == "omit":
        del body["meta"]
    assert conv_experiments.structure_experiment_page(body).next_cursor is None


def test_non_json_bodies_never_leak_json_decode_error() -> None:
    with pytest.raises(dd.ResponseValidationError, match="not JSON") as info:
        dd.parse_experiment_page(b"<html><body>502 Bad Gateway</body></html>")
    assert "502 Bad Gateway" in str(info.value)


def test_aggregate_result_with_null_metric_and_missing_by() -> None:
    result = conv_analytics.structure_aggregate_result(
        {
            "data": {
                "id": "r1",
                "type": "experimentation",
                "attributes": {
                    "hit_count": 3,
                    "result": {
                        "values": [
                            {"by": {"span_id": "s1"}, "metrics": {"avg": None}},
                            {"metrics": {"avg": 0.5}},
                        ]
                    },
                },
            }
        }
    )
    assert result.hit_count == 3 and result.id == "r1"
    assert result.buckets == [
        dd.Bucket(by={"span_id": "s1"}, metrics={"avg": None}),
        dd.Bucket(by={}, metrics={"avg": 0.5}),
    ]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "$.data"),
        ({"data": {"attributes": {}}}, "$.data.id"),
        (
            {"data": {"id": "r", "attributes": {"result": {"values": []}}}},
            "$.data.attributes.hit_count",
        ),
        ({"data": {"id": "r", "attributes": {"hit_count": 1}}}, "$.data.attributes.result"),
        (
            {"data": {"id": "r", "attributes": {"hit_count": 1, "result": {"values": [{}]}}}},
            "$.data.attributes.result.values[0].metrics",
        ),
    ],
)
def test_malformed_aggregate_results(body: Any, path: str) -> None:
    with pytest.raises(dd.ResponseValidationError) as info:
        conv_analytics.structure_aggregate_result(body)
    assert info.value.path == path


def test_error_details_accept_strings_objects_and_garbage() -> None:
    details = conv_errors.structure_error_details(
        {
            "errors": [
                "Too many requests",
                {"title": "Generic Error", "detail": "invalid prompt template"},
                {
                    "status": "400",
                    "title": "Bad Request",
                    "detail": "x",
                    "source": {"pointer": "/data/type"},
                    "meta": {"a": 1},
                },
            ]
        }
    )
    assert details[0] == dd.APIErrorDetail(detail="Too many requests")
    assert (
        details[1].title == "Generic Error"
        and details[1].status is None
        and details[1].source is None
    )
    assert details[2].source == dd.APIErrorSource(pointer="/data/type") and details[2].meta == {
        "a": 1
    }
    assert (
        conv_errors.structure_error_details(None) == []
        and conv_errors.structure_error_details({"errors": "x"}) == []
    )


def test_stdlib_json_backend_structures_the_same_page() -> None:
    script = (
        "import sys; import ddllmobs_async as dd; from ddllmobs_async import _json; "
        "page = dd.parse_experiment_page(sys.stdin.buffer.read()); "
        "print(_json.JSON_BACKEND, page.experiments[0].created_at.isoformat(), page.next_cursor)"
    )
    for env, backend in (({"DDLLMOBS_NO_ORJSON": "1"}, "json"), ({}, _json.JSON_BACKEND)):
        out = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(page(ATTRIBUTES)).encode(),
            capture_output=True,
            check=True,
            env={**os.environ, **env},
        ).stdout.decode()
        assert out.split() == [backend, "2026-07-20T09:30:04.928462+00:00", "c1"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_both_json_backends_refuse_what_is_not_json(literal: str) -> None:
    body = json.dumps(page(ATTRIBUTES)).replace('"run_count": 3', f'"run_count": {literal}')
    assert literal in body
    script = (
        "import sys; import ddllmobs_async as dd\n"
        "try:\n    dd.parse_experiment_page(sys.stdin.buffer.read())\n"
        "except dd.ResponseValidationError as error:\n    print(error)"
    )
    for env in ({"DDLLMOBS_NO_ORJSON": "1"}, {}):
        out = subprocess.run(
            [sys.executable, "-c", script],
            input=body.encode(),
            capture_output=True,
            check=True,
            env={**os.environ, **env},
        ).stdout.decode()
        assert out.startswith("response body is not JSON"), (env, out)
