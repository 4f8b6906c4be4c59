"""Aurora PostgreSQL and Aurora MySQL dialects (topology from ``aurora_replica_status`` /
``information_schema.replica_host_status``)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..drivers import DriverDialect
from . import register_dialect
from ._topology import TopologyAwareDialect
from .mysql import MysqlDialect
from .pg import PgDialect

__all__ = ["AuroraMysqlDialect", "AuroraPgDialect"]


@register_dialect
class AuroraPgDialect(TopologyAwareDialect, PgDialect):
    """Aurora PostgreSQL."""

    code = "aurora-pg"
    update_candidates = ("global-aurora-pg",)  # type: ignore[assignment]
    extensions_query: ClassVar[str] = (
        "SELECT (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils "
        "FROM pg_settings WHERE name = 'rds.extensions'"
    )
    has_topology_query: ClassVar[str] = "SELECT 1 FROM aurora_replica_status() LIMIT 1"
    topology_query = (
        "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, "
        "CPU, COALESCE(REPLICA_LAG_IN_MSEC, 0), LAST_UPDATE_TIMESTAMP "
        "FROM aurora_replica_status() "
        "WHERE EXTRACT(EPOCH FROM(NOW() - LAST_UPDATE_TIMESTAMP)) <= 300 OR SESSION_ID = 'MASTER_SESSION_ID' "
        "OR LAST_UPDATE_TIMESTAMP IS NULL"
    )
    host_id_query = "SELECT aurora_db_instance_identifier()"
    is_reader_query = "SELECT pg_is_in_recovery()"

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        rows = await self._probe(conn, driver, self.extensions_query)
        if not rows or not rows[0][0]:
            return False
        return bool(await self._probe(conn, driver, self.has_topology_query))


@register_dialect
class AuroraMysqlDialect(TopologyAwareDialect, MysqlDialect):
    """Aurora MySQL."""

    code = "aurora-mysql"
    update_candidates: ClassVar[tuple[str, ...]] = ("global-aurora-mysql",)
    topology_query = (
        "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, "
        "CPU, REPLICA_LAG_IN_MILLISECONDS, LAST_UPDATE_TIMESTAMP "
        "FROM information_schema.replica_host_status "
        "WHERE time_to_sec(timediff(now(), LAST_UPDATE_TIMESTAMP)) <= 300 "
        "OR SESSION_ID = 'MASTER_SESSION_ID' "
    )
    host_id_query = "SELECT @@aurora_server_id"
    is_reader_query = "SELECT @@innodb_read_only"

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        rows = await self._probe(conn, driver, "SHOW VARIABLES LIKE 'aurora_version'")
        return bool(rows)
