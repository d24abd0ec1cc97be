"""Griffe extension for the API reference: ``attrs`` signatures and Sphinx roles.

* Griffe reads the source statically and does not know what ``@attrs.frozen`` /
  ``@attrs.define`` generate, so the reference would show models without parameters. This
  rebuilds ``__init__`` from the annotated fields (``attrs.field(default=..., factory=...,
  kw_only=..., init=...)``), like griffe's built-in dataclasses extension.
* Some docstrings use Sphinx roles (``:class:`Foo```) and reST links; Markdown would show
  them verbatim, so they become code spans and Markdown links.

Used by ``mkdocs.yml`` only.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_DECORATORS = {
    "attrs.define",
    "attrs.frozen",
    "attrs.mutable",
    "attr.s",
    "attr.attrs",
    "attr.define",
    "attr.frozen",
}
_FIELDS = {"attrs.field", "attr.ib", "attr.attrib", "attr.field"}


_ROLE = re.compile(r":(?:py:)?(?:class|meth|attr|func|data|mod|exc|obj):`(~?)([^`]+)`")
_REST_LINK = re.compile(r"`([^`<]+?) <(https?://[^>]+)>`_")


def _role(match: re.Match[str]) -> str:
    text = match[2].strip()
    if " <" in text:  # :meth:`title <target>`: keep the title
        text = text.split(" <", 1)[0]
    elif match[1]:  # :class:`~a.b.C`: show only C
        text = text.rsplit(".", 1)[-1]
    return f"`{text}`"


def _clean_docstring(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        value = _ROLE.sub(_role, obj.docstring.value)
        obj.docstring.value = _REST_LINK.sub(r"[\1](\2)", value)


def _call_arguments(expr: Any) -> dict[str, Any]:
    if not isinstance(expr, griffe.ExprCall):
        return {}
    return {
        argument.name: argument.value
        for argument in expr.arguments
        if isinstance(argument, griffe.ExprKeyword)
    }


def _attrs_decorator(class_: griffe.Class) -> griffe.Expr | None:
    for decorator in class_.decorators:
        value = decorator.value
        if isinstance(value, griffe.Expr) and value.canonical_path in _DECORATORS:
            return value
    return None


def _parameters(class_: griffe.Class, class_kw_only: bool) -> list[griffe.Parameter]:
    parameters = []
    for member in class_.members.values():
        if not isinstance(member, griffe.Attribute) or member.annotation is None:
            continue
        if "property" in member.labels or (
            "class-attribute" in member.labels and "instance-attribute" not in member.labels
        ):
            continue
        value = member.value
        is_field = isinstance(value, griffe.ExprCall) and value.canonical_path in _FIELDS
        field = _call_arguments(value) if is_field else {}
        if str(field.get("init")) == "False":
            continue
        if "factory" in field:
            default: Any = griffe.ExprCall(function=field["factory"], arguments=[])
        elif is_field:
            default = field.get("default")
        else:
            default = value
        kw_only = class_kw_only or str(field.get("kw_only")) == "True"
        parameters.append(
            griffe.Parameter(
                member.name.lstrip("_"),
                annotation=member.annotation,
                kind=griffe.ParameterKind.keyword_only
                if kw_only
                else griffe.ParameterKind.positional_or_keyword,
                default=default,
                docstring=member.docstring,
            )
        )
    return parameters


def _set_init(class_: griffe.Class) -> None:
    decorator = _attrs_decorator(class_)
    if decorator is None or "__init__" in class_.members:
        return
    options = _call_arguments(decorator)
    if str(options.get("init")) == "False":
        return
    parameters = _parameters(class_, str(options.get("kw_only")) == "True")
    ordered = [p for p in parameters if p.kind is not griffe.ParameterKind.keyword_only] + [
        p for p in parameters if p.kind is griffe.ParameterKind.keyword_only
    ]
    self_parameter = griffe.Parameter(
        "self", annotation=None, kind=griffe.ParameterKind.positional_or_keyword, default=None
    )
    init = griffe.Function(
        "__init__",
        lineno=0,
        endlineno=0,
        parent=class_,
        parameters=griffe.Parameters(self_parameter, *ordered),
        returns="None",
    )
    class_.set_member("__init__", init)
    class_.labels.add("attrs")


def _walk(obj: griffe.Module | griffe.Class, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    _clean_docstring(obj)
    if isinstance(obj, griffe.Class):
        _set_init(obj)
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Module | griffe.Class):
            _walk(member, seen)
        elif isinstance(member, griffe.Object):
            _clean_docstring(member)


class AttrsExtension(griffe.Extension):
    """Create ``attrs`` classes' ``__init__`` and convert Sphinx roles, once per package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rebuild ``__init__`` signatures once the package is loaded."""
        _walk(pkg, set())
