"""RDS PostgreSQL and RDS MySQL (single instance, no topology) dialects."""

from __future__ import annotations

from typing import Any, ClassVar

from ..drivers import DriverDialect
from . import register_dialect
from .mysql import MysqlDialect
from .pg import PgDialect

__all__ = ["RdsMysqlDialect", "RdsPgDialect"]


@register_dialect
class RdsPgDialect(PgDialect):
    """RDS for PostgreSQL: ``rds_tools`` installed, not Aurora."""

    code = "rds-pg"
    update_candidates = ()  # type: ignore[assignment]  # no more specific dialect
    extensions_query: ClassVar[str] = (
        "SELECT (setting LIKE '%rds_tools%') AS rds_tools, "
        "(setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils "
        "FROM pg_settings WHERE name = 'rds.extensions'"
    )

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        rows = await self._probe(conn, driver, self.extensions_query)
        return rows is not None and bool(rows) and bool(rows[0][0]) and not rows[0][1]


@register_dialect
class RdsMysqlDialect(MysqlDialect):
    """RDS for MySQL (its ``version_comment`` says "Source distribution")."""

    code = "rds-mysql"
    update_candidates: ClassVar[tuple[str, ...]] = ()

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        rows = await self._probe(conn, driver, "SHOW VARIABLES LIKE 'version_comment'")
        return rows is not None and bool(rows) and "source distribution" in str(rows[0][1]).lower()
