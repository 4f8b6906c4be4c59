"""Dialects that know a cluster topology: the base of the Aurora and Multi-AZ dialects.

The three helper queries (topology, instance id, is-reader) can each be replaced by a property
(``topology_query``, ``host_id_query``, ``is_reader_query``), e.g. to point them at an emulation.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..hostinfo import HostRole
from ..properties import Properties, WrapperProperties
from ._base import DatabaseDialect, _truthy

if TYPE_CHECKING:
    from ..drivers import DriverDialect

__all__ = ["TopologyAwareDialect", "TopologyEntry"]


@dataclass(frozen=True, slots=True)
class TopologyEntry:
    """One instance as a topology query reports it."""

    host_id: str
    is_writer: bool
    cpu: float = 0.0
    lag_ms: float = 0.0
    last_update: datetime.datetime | None = None
    #: the instance's own endpoint when the server reports it (Multi-AZ, emulations)
    endpoint: str | None = None
    port: int | None = None
    #: the AWS region of the instance (Global Database topologies report it)
    region: str | None = None


def _float(value: Any) -> float:
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


class TopologyAwareDialect(DatabaseDialect):
    """A dialect whose servers report the cluster's instances and their roles."""

    topology_query: ClassVar[str]
    host_id_query: ClassVar[str]
    #: whether the topology query reports each instance's endpoint (no host pattern needed)
    reports_endpoints: ClassVar[bool] = False

    # --- the queries, with property overrides ------------------------------------------------

    def topology_sql(self, props: Properties) -> str:
        """The topology query in effect."""
        return WrapperProperties.TOPOLOGY_QUERY.get(props) or self.topology_query

    def host_id_sql(self, props: Properties) -> str:
        """The instance-id query in effect."""
        return WrapperProperties.HOST_ID_QUERY.get(props) or self.host_id_query

    def is_reader_sql(self, props: Properties) -> str:
        """The is-reader query in effect."""
        sql = WrapperProperties.IS_READER_QUERY.get(props) or self.is_reader_query
        if sql is None:  # pragma: no cover - every subclass sets one
            raise NotImplementedError(f"{type(self).__name__} has no is-reader query")
        return sql

    async def query_topology(
        self, conn: Any, driver: DriverDialect, props: Properties
    ) -> list[TopologyEntry]:
        """The instances the server behind ``conn`` reports (at most one writer: the freshest)."""
        rows = await driver.query(conn, self.topology_sql(props))
        return _one_writer([self.parse_topology_row(row) for row in rows])

    def parse_topology_row(self, row: tuple[Any, ...]) -> TopologyEntry:
        """Aurora shape: id, is_writer, cpu, lag, last update [, host, port]."""
        endpoint = _text(row[5]) if len(row) > 5 and row[5] else None
        port = int(row[6]) if len(row) > 6 and row[6] else None
        last = row[4] if len(row) > 4 and isinstance(row[4], datetime.datetime) else None
        return TopologyEntry(
            _text(row[0]),
            _truthy(row[1]),
            _float(row[2] if len(row) > 2 else None),
            _float(row[3] if len(row) > 3 else None),
            last,
            endpoint,
            port,
        )

    async def query_host_id(self, conn: Any, driver: DriverDialect, props: Properties) -> str | None:
        """The instance id of the server behind ``conn``."""
        rows = await driver.query(conn, self.host_id_sql(props))
        return _text(rows[0][0]) if rows and rows[0][0] is not None else None

    async def query_is_reader(self, conn: Any, driver: DriverDialect, props: Properties) -> bool:
        """Whether the server behind ``conn`` is a reader."""
        rows = await driver.query(conn, self.is_reader_sql(props))
        return bool(rows) and _truthy(rows[0][0])

    async def get_host_role(self, conn: Any, driver: DriverDialect, props: Properties) -> HostRole:
        return HostRole.READER if await self.query_is_reader(conn, driver, props) else HostRole.WRITER


def _one_writer(entries: list[TopologyEntry]) -> list[TopologyEntry]:
    """Keep only the most recently updated writer; other writer rows are stale and dropped."""
    writers = [e for e in entries if e.is_writer]
    if len(writers) <= 1:
        return entries
    epoch = datetime.datetime.min

    def when(entry: TopologyEntry) -> datetime.datetime:
        ts = entry.last_update
        return ts.replace(tzinfo=None) if ts is not None else epoch

    keep = max(writers, key=when)
    return [e for e in entries if not e.is_writer or e is keep]
