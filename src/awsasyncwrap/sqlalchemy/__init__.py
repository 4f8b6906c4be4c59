"""SQLAlchemy 2 async dialects that connect through awsasyncwrap.

``postgresql+awsasyncwrap_psycopg`` and ``mysql+awsasyncwrap_aiomysql`` are
registered as ``sqlalchemy.dialects`` entry points by the package, and so are
aws-advanced-python-wrapper's URL names for the same drivers
(``postgresql+aws_wrapper_psycopg``, ``mysql+aws_wrapper_aiomysql``). Call
:func:`register` when the package is not installed (e.g. run from a source
tree), to be explicit, or to make those names ours when aws-advanced-python-wrapper
is installed too (its entry points then compete with ours).
"""

from __future__ import annotations

__all__ = ["DIALECTS", "register"]

#: SQLAlchemy dialect name -> (module, class).
DIALECTS: dict[str, tuple[str, str]] = {
    "postgresql.awsasyncwrap_psycopg": ("awsasyncwrap.sqlalchemy.psycopg", "AwsPGDialectAsync_psycopg"),
    "mysql.awsasyncwrap_aiomysql": ("awsasyncwrap.sqlalchemy.aiomysql", "AwsMySQLDialect_aiomysql"),
    # aws-advanced-python-wrapper's names (docs/migrating.md)
    "postgresql.aws_wrapper_psycopg": ("awsasyncwrap.sqlalchemy.psycopg", "AwsPGDialectAsync_psycopg"),
    "mysql.aws_wrapper_aiomysql": ("awsasyncwrap.sqlalchemy.aiomysql", "AwsMySQLDialect_aiomysql"),
}


def register() -> None:
    """Register the dialects with SQLAlchemy's dialect registry (idempotent)."""
    from sqlalchemy.dialects import registry

    for name, (module, cls) in DIALECTS.items():
        registry.register(name, module, cls)
