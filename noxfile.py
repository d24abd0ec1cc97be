"""Task runner: `nox -s tests lint typecheck docs bench`."""

from __future__ import annotations

import nox

# nox.project.dependency_groups (the pinned linters) needs 2025.2.9: the version .ci/run installs.
nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = False  # an interpreter that is not installed: skip

PYTHONS = ["3.11", "3.12", "3.13"]
# Every dependency list lives in pyproject.toml: the extras, and the pinned linters' groups.
PYPROJECT = nox.project.load_toml("pyproject.toml")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The suite under branch coverage; below the floor in pyproject.toml, the run fails."""
    session.install("-e", ".[speedups,test]")
    if session.posargs:  # a selection of tests: no coverage floor
        session.run("pytest", *session.posargs)
        return
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest")
    session.run("coverage", "report")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    session.install(
        "-e", ".[speedups,test]", *nox.project.dependency_groups(PYPROJECT, "typecheck")
    )
    session.run("mypy")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    session.install("-e", ".[speedups,arrow]", "datadog-api-client[async]", "psutil")
    session.run("python", "bench/run.py", *session.posargs)
