"""The SQL files shipped with the testbed (``testbed/sql/``): their text and their statements."""

from __future__ import annotations

import re
from importlib import resources

__all__ = ["sql_statements", "sql_text"]


def sql_text(name: str) -> str:
    """The text of ``testbed/sql/<name>``."""
    return resources.files("awsasyncwrap.testbed").joinpath(f"sql/{name}").read_text()


def sql_statements(text: str) -> list[str]:
    """Split a simple SQL file (no procedures, ``--`` comments on lines of their own) into statements."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [stmt.strip() for stmt in re.split(r";\s*$", "\n".join(lines), flags=re.M) if stmt.strip()]
