"""The API reference and the command-line page cannot drift from the code.

- Every public name of ``ddllmobs_async`` and of its documented submodules
  (``ddllmobs_async.testing``, ``ddllmobs_async.export``) has a ``:::`` directive under
  docs/reference/, and every pytest fixture of the plugin is named on its page.
- Every field of every public attrs class is described in its class docstring's
  ``Attributes:`` section (mkdocstrings renders that section as the field table; a field
  left out would show in the signature only, undescribed).
- docs/cli.md documents every command, option, choice and default the parser has, each
  under its own command, and nothing the parser does not have.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
from pathlib import Path
from types import ModuleType

import attrs
import pytest

import ddllmobs_async as dd
import ddllmobs_async.export as dd_export
import ddllmobs_async.testing as dd_testing
import ddllmobs_async.testing.pytest_plugin as dd_plugin
from ddllmobs_async import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOCUMENTED_MODULES = (dd, dd_testing, dd_export)
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


# --------------------------------------------------------------------------- API reference


def public_names(module: ModuleType) -> list[str]:
    """``__all__``, else the names the module itself defines without a leading underscore."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    ]


def reference_directives() -> set[str]:
    return {
        match
        for page in (DOCS / "reference").glob("*.md")
        for match in re.findall(r"^:::\s+(\S+)", page.read_text(), flags=re.MULTILINE)
    }


def test_reference_documents_every_public_name() -> None:
    directives = reference_directives()
    missing = [
        f"{module.__name__}.{name}"
        for module in DOCUMENTED_MODULES
        for name in public_names(module)
        if f"{module.__name__}.{name}" not in directives
    ]
    assert missing == [], "no ::: directive under docs/reference/"
    assert "ddllmobs_async.testing.pytest_plugin" in directives


def test_documented_submodules_have_public_names() -> None:
    """The check above covers something: each submodule's names are found and importable."""
    for module in DOCUMENTED_MODULES:
        names = public_names(module)
        assert names, module.__name__
        for name in names:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_reference_page_names_every_pytest_fixture() -> None:
    """The plugin's page shows its module docstring only (``members: false``)."""
    tree = ast.parse(inspect.getsource(dd_plugin))
    fixtures = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith(("_", "pytest_"))
    ]
    assert fixtures, "the plugin defines fixtures"
    docstring = dd_plugin.__doc__ or ""
    for name in fixtures:
        assert re.search(rf"^\s+``{name}``:", docstring, re.M), f"fixture {name} undocumented"


# --------------------------------------------------------------------------- model fields


def attributes_section(doc: str) -> set[str]:
    """The names a Google-style ``Attributes:`` section describes (``name: text`` entries)."""
    lines = doc.splitlines()
    if "Attributes:" not in lines:
        return set()
    names: set[str] = set()
    for line in lines[lines.index("Attributes:") + 1 :]:
        if line and not line.startswith(" "):
            break  # the next section, or text after this one
        entry = re.match(r"^    (\w+)(?: \([^)]*\))?: \S", line)
        if entry:
            names.add(entry[1])
    return names


def public_attrs_classes() -> list[type]:
    return [
        value
        for module in DOCUMENTED_MODULES
        for name in public_names(module)
        if inspect.isclass(value := getattr(module, name)) and attrs.has(value)
    ]


@pytest.mark.parametrize(
    "cls", [pytest.param(cls, id=cls.__name__) for cls in public_attrs_classes()]
)
def test_every_field_of_a_public_model_is_described(cls: type) -> None:
    described = attributes_section(inspect.getdoc(cls) or "")
    fields = [field.name for field in attrs.fields(cls)]
    assert [name for name in fields if name not in described] == [], "not in Attributes:"
    assert described <= set(fields), "Attributes: names a field the class does not have"


def test_public_models_are_found() -> None:
    names = {cls.__name__ for cls in public_attrs_classes()}
    assert {"Experiment", "ExperimentSpan", "EvalMetric", "Project", "Bucket"} <= names
    assert {"ExportSummary", "RecordedRequest"} <= names


def test_attributes_section_parser() -> None:
    doc = inspect.cleandoc(
        """Summary.

        Attributes:
            first: One line.
            second (int): Two
                lines; ``third: no``.

        Raises:
            fourth: Not an attribute.
        """
    )
    assert attributes_section(doc) == {"first", "second"}
    assert attributes_section("Summary.\n\nArgs:\n    first: No.") == set()


# --------------------------------------------------------------------------- command line


def cli_commands() -> dict[str, argparse.ArgumentParser]:
    """Every command the parser runs, e.g. ``"experiments list"``, with its parser."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups:
            found[" ".join(path)] = parser
        for group in groups:
            for name, subparser in group.choices.items():
                walk(subparser, [*path, name])

    walk(cli.build_parser(), [])
    return found


def arguments(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Long options and positionals (as their metavar), ``--help`` left out."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.option_strings:
            found.update((o, action) for o in action.option_strings if o.startswith("--"))
        else:
            found[str(action.metavar or action.dest.upper())] = action
    return found


def connection_options(parser: argparse.ArgumentParser) -> set[str]:
    groups = [g for g in parser._action_groups if g.title == "connection"]
    return {o for g in groups for a in g._group_actions for o in a.option_strings}


def page_sections() -> tuple[str, dict[str, str]]:
    """docs/cli.md: the text before the first ``## `` heading, and each section by heading."""
    parts = re.split(r"^## (.+)$", (DOCS / "cli.md").read_text(), flags=re.M)
    titles, bodies = parts[1::2], parts[2::2]
    return parts[0], {title.strip("` "): body for title, body in zip(titles, bodies, strict=True)}


def table_rows(section: str) -> dict[str, str]:
    """Each option or positional a table row documents -> the row."""
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = line.split("|")
        if not line.startswith("|") or len(cells) < 3 or set(cells[1]) <= set("-: "):
            continue
        names = OPTION.findall(cells[1]) + re.findall(r"`([A-Z][A-Z_]+)`", cells[1])
        rows.update((name, line) for name in names)
    return rows


def default_text(value: object) -> list[str]:
    texts = [str(value)]
    if isinstance(value, float):
        texts.append(f"{value:g}")
    return texts


def test_cli_page_matches_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    commands = cli_commands()
    assert set(commands) >= {"experiments list", "experiments events", "projects list", "demo"}
    synopsis, sections = page_sections()
    connection = sections["Connection options"]
    connection_rows = table_rows(connection)
    accepting = re.search(r"^(.*) accept:$", connection, re.M)
    assert accepting, "the Connection options section names the commands that accept them"
    with_connection = set(re.findall(r"`([a-z -]+)`", accepting[1]))

    choices_anywhere: dict[str, set[str]] = {}  # an option's choices in any command
    for parser in commands.values():
        for option, action in arguments(parser).items():
            choices_anywhere.setdefault(option, set()).update(action.choices or ())

    for name, parser in commands.items():
        assert cli.main([*name.split(), "--help"]) == 0
        capsys.readouterr()
        assert f"ddllmobs {name}" in synopsis, f"{name}: not in the synopsis"
        section = sections.get(f"ddllmobs {name}")
        assert section is not None, f"docs/cli.md has no section `ddllmobs {name}`"
        rows = table_rows(section)
        implemented = arguments(parser)
        shared = connection_options(parser)
        assert (name in with_connection) == bool(shared), f"{name}: Connection options"
        if shared:
            assert shared == set(connection_rows), f"{name}: connection options differ"
            rows = {**connection_rows, **rows}
        assert set(implemented) - set(rows) == set(), f"{name}: undocumented"
        assert set(rows) - set(implemented) == set(), f"{name}: not options of the command"
        for option, action in implemented.items():
            row = rows[option]
            for choice in action.choices or ():
                assert f"`{choice}`" in row, f"{name} {option}: choice {choice} undocumented"
            claimed = set(re.findall(r"`([^`]+)`", row)) & choices_anywhere[option]
            assert claimed <= set(action.choices or ()), f"{name} {option}: not a choice here"
            if action.default not in (None, False, [], argparse.SUPPRESS):
                assert any(
                    re.search(rf"(?<![\w.]){re.escape(text)}(?![\w])", row)
                    for text in default_text(action.default)
                ), f"{name} {option}: default {action.default!r} not in {row!r}"

    command_sections = {title for title in sections if title.startswith("ddllmobs ")}
    assert command_sections == {f"ddllmobs {name}" for name in commands}
    top_level = set(arguments(cli.build_parser()))
    assert top_level <= set(OPTION.findall(synopsis)), "top-level options in the synopsis"
    every_option = {o for parser in commands.values() for o in arguments(parser)} | top_level
    page_options = set(OPTION.findall((DOCS / "cli.md").read_text()))
    assert page_options - {"--help"} <= every_option, "docs/cli.md names unknown options"
