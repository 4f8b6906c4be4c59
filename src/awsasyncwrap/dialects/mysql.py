"""MySQL and MariaDB dialects."""

from __future__ import annotations

from typing import Any, ClassVar

from ..drivers import DriverDialect
from ._base import DatabaseDialect

__all__ = ["MariaDbDialect", "MysqlDialect"]


class MysqlDialect(DatabaseDialect):
    """Plain MySQL."""

    code = "mysql"
    engine = "mysql"
    default_port = 3306
    update_candidates: ClassVar[tuple[str, ...]] = ("aurora-mysql", "multi-az-mysql", "rds-mysql", "mariadb")
    is_reader_query = "SELECT @@read_only"
    host_alias_query = "SELECT CONCAT(@@hostname, ':', @@port)"
    # client-side connection errors (CR_*), server shutdown and killed connections
    network_error_codes = frozenset(
        {
            "2001",
            "2002",
            "2003",
            "2004",
            "2006",
            "2012",
            "2013",
            "2026",
            "2055",
            "1053",
            "1077",
            "1152",
            "1153",
            "1154",
            "1156",
            "1159",
            "1160",
            "1161",
            "1927",
            "4031",
        }
    )
    # access denied (user, database), unknown database, auth plugin refusals
    login_error_codes = frozenset({"1045", "1044", "1049", "1698", "1251"})
    read_only_error_codes = frozenset({"1290", "1792", "1836"})

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        rows = await self._probe(conn, driver, "SHOW VARIABLES LIKE 'version_comment'")
        return rows is not None and bool(rows) and "mariadb" not in str(rows[0][1]).lower()


class MariaDbDialect(MysqlDialect):
    """MariaDB."""

    code = "mariadb"
    update_candidates = ("aurora-mysql",)

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        rows = await self._probe(conn, driver, "SELECT VERSION()")
        return rows is not None and bool(rows) and "mariadb" in str(rows[0][0]).lower()
