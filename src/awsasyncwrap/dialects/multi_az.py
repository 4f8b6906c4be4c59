"""RDS Multi-AZ DB cluster dialects (PostgreSQL, MySQL): topology from ``rds_tools`` / ``mysql.rds_topology``.

Their topology query returns ``id, endpoint, port``; the writer is told by a separate query.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..drivers import DriverDialect
from ..properties import Properties
from . import register_dialect
from ._topology import TopologyAwareDialect, TopologyEntry, _text
from .mysql import MysqlDialect
from .pg import PgDialect

__all__ = ["MultiAzMysqlDialect", "MultiAzPgDialect"]


class _MultiAz(TopologyAwareDialect):
    reports_endpoints = True

    async def writer_id(self, conn: Any, driver: DriverDialect, props: Properties) -> str | None:
        """The instance id of the cluster's writer."""
        raise NotImplementedError

    async def query_topology(
        self, conn: Any, driver: DriverDialect, props: Properties
    ) -> list[TopologyEntry]:
        rows = await driver.query(conn, self.topology_sql(props))
        writer = await self.writer_id(conn, driver, props)
        return [
            TopologyEntry(
                _text(row[0]),
                _text(row[0]) == writer,
                endpoint=_text(row[1]) if len(row) > 1 and row[1] else None,
                port=int(row[2]) if len(row) > 2 and row[2] else None,
            )
            for row in rows
        ]


@register_dialect
class MultiAzPgDialect(_MultiAz, PgDialect):
    """RDS Multi-AZ DB cluster, PostgreSQL."""

    code = "multi-az-pg"
    update_candidates = ()  # type: ignore[assignment]  # no more specific dialect
    topology_query = "SELECT id, endpoint, port FROM rds_tools.show_topology('awsasyncwrap')"
    writer_query: ClassVar[str] = (
        "SELECT multi_az_db_cluster_source_dbi_resource_id "
        "FROM rds_tools.multi_az_db_cluster_source_dbi_resource_id()"
    )
    host_id_query = "SELECT dbi_resource_id FROM rds_tools.dbi_resource_id()"
    is_reader_query = "SELECT pg_is_in_recovery()"

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        return bool(await self._probe(conn, driver, self.writer_query))

    async def writer_id(self, conn: Any, driver: DriverDialect, props: Properties) -> str | None:
        rows = await driver.query(conn, self.writer_query)
        return _text(rows[0][0]) if rows and rows[0][0] is not None else None


@register_dialect
class MultiAzMysqlDialect(_MultiAz, MysqlDialect):
    """RDS Multi-AZ DB cluster, MySQL."""

    code = "multi-az-mysql"
    update_candidates: ClassVar[tuple[str, ...]] = ()
    topology_query = "SELECT id, endpoint, port FROM mysql.rds_topology"
    host_id_query = "SELECT @@server_id"
    is_reader_query = "SELECT @@read_only"
    #: column of ``Source_Server_Id`` in ``SHOW REPLICA STATUS``
    source_server_id_column: ClassVar[int] = 39

    async def is_dialect(self, conn: Any, driver: DriverDialect) -> bool:
        return bool(await self._probe(conn, driver, self.topology_query))

    async def writer_id(self, conn: Any, driver: DriverDialect, props: Properties) -> str | None:
        rows = await driver.query(conn, "SHOW REPLICA STATUS")
        if rows and len(rows[0]) > self.source_server_id_column:
            return _text(rows[0][self.source_server_id_column])
        # no replication source: this instance is the writer
        return await self.query_host_id(conn, driver, props)
