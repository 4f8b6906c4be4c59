"""Aurora Global Database dialects: the topology spans regions (``aurora_global_db_instance_status``).

Tried after ``aurora-pg`` / ``aurora-mysql`` were detected: a server is part of a Global Database when
the global status function (PostgreSQL) or ``information_schema`` table (MySQL) exists and lists more
than one region. Topology rows carry each instance's region; ``global_cluster_instance_host_patterns``
maps them to hosts (see :class:`awsasyncwrap.topology.HostMapper`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..drivers import DriverDialect
from . import register_dialect
from ._base import _truthy
from ._topology import TopologyAwareDialect, TopologyEntry, _float, _text
from .aurora import AuroraMysqlDialect, AuroraPgDialect

__all__ = ["GlobalAuroraMysqlDialect", "GlobalAuroraPgDialect"]


class _GlobalTopology(TopologyAwareDialect):
    """Global topology rows: id, is_writer, visibility lag (ms), region; detection by the global status."""

    exists_query: ClassVar[str]
    region_count_query: ClassVar[str]

    def parse_topology_row(self, row: tuple[Any, ...]) -> TopologyEntry:
        region = _text(row[3]) if len(row) > 3 and row[3] is not None else None
        return TopologyEntry(
            _text(row[0]), _truthy(row[1]), 0.0, _float(row[2] if len(row) > 2 else None), region=region
        )

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        rows = await self._probe(conn, driver, self.exists_query)
        if not rows or not _truthy(rows[0][0]):
            return False
        counted = await self._probe(conn, driver, self.region_count_query)
        if not counted:
            return False
        return int(counted[0][0] or 0) > 1


@register_dialect
class GlobalAuroraPgDialect(_GlobalTopology, AuroraPgDialect):
    """Aurora PostgreSQL Global Database."""

    code = "global-aurora-pg"
    update_candidates = ()  # type: ignore[assignment]  # no more specific dialect
    exists_query = (
        "SELECT to_regproc('pg_catalog.aurora_global_db_status') IS NOT NULL "
        "AND to_regproc('pg_catalog.aurora_global_db_instance_status') IS NOT NULL"
    )
    region_count_query = "SELECT count(1) FROM pg_catalog.aurora_global_db_status()"
    topology_query = (
        "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, "
        "VISIBILITY_LAG_IN_MSEC, AWS_REGION FROM pg_catalog.aurora_global_db_instance_status()"
    )


@register_dialect
class GlobalAuroraMysqlDialect(_GlobalTopology, AuroraMysqlDialect):
    """Aurora MySQL Global Database."""

    code = "global-aurora-mysql"
    update_candidates: ClassVar[tuple[str, ...]] = ()
    exists_query = (
        "SELECT count(*) = 2 FROM information_schema.tables WHERE upper(table_schema) = 'INFORMATION_SCHEMA' "
        "AND upper(table_name) IN ('AURORA_GLOBAL_DB_STATUS', 'AURORA_GLOBAL_DB_INSTANCE_STATUS')"
    )
    region_count_query = "SELECT count(1) FROM information_schema.aurora_global_db_status"
    topology_query = (
        "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, "
        "VISIBILITY_LAG_IN_MSEC, AWS_REGION FROM information_schema.aurora_global_db_instance_status"
    )
