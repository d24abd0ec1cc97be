"""Validate documents against ``tests/data/openapi-llmobs-results.yaml`` (events, projects).

The same approach as ``tests/openapi.py`` (OpenAPI 3.0, ``OAS30Validator``, one
``referencing`` registry holding the whole document), for the results extract.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).parent / "data" / "openapi-llmobs-results.yaml"
_SPEC_URI = "urn:llmobs-results-openapi"


@functools.cache
def _validator(schema_name: str) -> Any:
    with SPEC_PATH.open(encoding="utf-8") as handle:
        spec: dict[str, Any] = yaml.safe_load(handle)
    if schema_name not in spec["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {SPEC_PATH.name}")
    resource: Resource[Any] = Resource.from_contents(spec, default_specification=DRAFT4)
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    schema = {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"}
    return OAS30Validator(schema, registry=registry, format_checker=oas30_format_checker)


def validate(schema_name: str, instance: object) -> None:
    """Check ``instance`` against ``components.schemas[schema_name]`` (AssertionError if not)."""
    errors = list(_validator(schema_name).iter_errors(instance))
    if errors:
        best = best_match(errors)
        lines = [f"  at {error.json_path}: {error.message}" for error in errors[:10]]
        raise AssertionError(
            f"{schema_name}: {len(errors)} violation(s); most relevant: {best.json_path}: "
            f"{best.message}\n" + "\n".join(lines)
        )
