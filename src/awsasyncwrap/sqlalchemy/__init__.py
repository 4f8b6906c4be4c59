"""SQLAlchemy 2 async dialects that connect through awsasyncwrap.

``postgresql+awsasyncwrap_psycopg`` and ``mysql+awsasyncwrap_aiomysql`` are
registered as ``sqlalchemy.dialects`` entry points by the package; call
:func:`register` when the package is not installed (e.g. run from a source
tree) or to be explicit.
"""

from __future__ import annotations

__all__ = ["DIALECTS", "register"]

#: SQLAlchemy dialect name -> (module, class).
DIALECTS: dict[str, tuple[str, str]] = {
    "postgresql.awsasyncwrap_psycopg": ("awsasyncwrap.sqlalchemy.psycopg", "AwsPGDialectAsync_psycopg"),
    "mysql.awsasyncwrap_aiomysql": ("awsasyncwrap.sqlalchemy.aiomysql", "AwsMySQLDialect_aiomysql"),
}


def register() -> None:
    """Register the dialects with SQLAlchemy's dialect registry (idempotent)."""
    from sqlalchemy.dialects import registry

    for name, (module, cls) in DIALECTS.items():
        registry.register(name, module, cls)
