"""Validate documents against the schemas of ``tests/data/openapi-llmobs-experiments.yaml``.

The spec is OpenAPI 3.0 (``nullable``, ``$ref`` between components), so validation uses
``openapi_schema_validator.OAS30Validator`` with a ``referencing`` registry holding the
whole spec document.
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

SPEC_PATH = Path(__file__).parent / "data" / "openapi-llmobs-experiments.yaml"
_SPEC_URI = "urn:llmobs-experiments-openapi"


@functools.cache
def spec() -> dict[str, Any]:
    """The parsed OpenAPI document (loaded once)."""
    with SPEC_PATH.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=DRAFT4)
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    return registry


@functools.cache
def _validator(schema_name: str) -> Any:
    if schema_name not in spec()["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {SPEC_PATH.name}")
    schema = {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"}
    return OAS30Validator(schema, registry=_registry(), format_checker=oas30_format_checker)


def validate(schema_name: str, instance: object) -> None:
    """Check ``instance`` against ``components.schemas[schema_name]``.

    Raises:
        AssertionError: Listing each violation with its JSON path.
        KeyError: If the spec has no such schema.
    """
    errors = list(_validator(schema_name).iter_errors(instance))
    if not errors:
        return
    lines = [f"  at {error.json_path}: {error.message}" for error in errors[:10]]
    best = best_match(errors)
    raise AssertionError(
        f"{schema_name}: {len(errors)} schema violation(s); most relevant: "
        f"{best.json_path}: {best.message}\n" + "\n".join(lines)
    )
