"""Developer sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``.

Sessions reuse the project's virtualenv tools (``nox --no-venv`` is what CI runs) so that the
database-heavy suite does not reinstall on every run.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.default_venv_backend = "none"


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite (starts its own PostgreSQL / MariaDB clusters and moto server)."""
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check."""
    session.run("ruff", "check", "src", "tests", "examples", "benchmarks")
    session.run("ruff", "format", "--check", "src", "tests", "examples", "benchmarks")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package and its tests (pyproject [tool.mypy] files)."""
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Overhead benchmark against a testbed PostgreSQL and MariaDB."""
    session.run("python", "benchmarks/overhead.py", "--engine", "both", *session.posargs)
