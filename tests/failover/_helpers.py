"""A small engine-neutral layer over the testbed for the failover tests (PostgreSQL and MariaDB)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import aiomysql
import psycopg

from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap._background import registry
from awsasyncwrap.testbed import Instance, Testbed
from awsasyncwrap.topology import ClusterTopologyMonitor

__all__ = ["MARIADB_TOPOLOGY_PROPS", "Cluster", "topology_monitors"]

#: The MariaDB testbed answers the Aurora MySQL queries from the aurora_emul schema.
MARIADB_TOPOLOGY_PROPS: dict[str, Any] = {
    "wrapper_dialect": "aurora-mysql",
    "topology_query": (
        "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, CPU, "
        "REPLICA_LAG_IN_MILLISECONDS, LAST_UPDATE_TIMESTAMP FROM aurora_emul.replica_host_status"
    ),
    "host_id_query": "SELECT @@report_host",
    "is_reader_query": "SELECT @@read_only",
}

_tables = itertools.count(1)


def topology_monitors() -> list[ClusterTopologyMonitor]:
    """Every live topology monitor of the running loop."""
    return [s for s in registry().services() if isinstance(s, ClusterTopologyMonitor) and not s.closed]


class Cluster:
    """A testbed plus how to talk to it with either driver."""

    def __init__(self, tb: Testbed) -> None:
        self.tb = tb
        self.pg = tb.engine == "postgres"
        self.table = f"fo_{int(time.time() * 1000) % 10_000_000}_{next(_tables)}"

    # --- wrapped connections ----------------------------------------------------------------------

    async def connect(self, target: Instance | str | None = None, **props: Any) -> AsyncAwsConnection:
        """A wrapped connection to ``target`` (default: the cluster endpoint) with the failover plugin."""
        tb = self.tb
        props.setdefault("plugins", "failover")
        props.setdefault("cluster_instance_host_pattern", tb.host_pattern)
        props.setdefault("autocommit", True)
        props.setdefault("monitor_disposal_time_ms", 0)
        if self.pg:
            return await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, tb.dsn(target), **props)
        return await AsyncAwsConnection.connect(
            aiomysql.connect, **{**MARIADB_TOPOLOGY_PROPS, **tb.connect_kwargs(target), **props}
        )

    @staticmethod
    async def run(conn: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run ``sql`` on a new cursor; all rows (if any)."""
        cur = conn.cursor()
        if hasattr(cur, "__await__"):  # aiomysql style
            cur = await cur
        try:
            await cur.execute(sql, params)
            return list(await cur.fetchall()) if cur.description is not None else []
        finally:
            await cur.close()

    async def insert(self, conn: Any, value: int) -> None:
        await self.run(conn, f"INSERT INTO {self.table} (id) VALUES (%s)", (value,))

    async def begin(self, conn: AsyncAwsConnection) -> None:
        """Start a transaction with a connection-level call (psycopg: BEGIN via transaction())."""
        if self.pg:
            await conn.set_autocommit(False)
            await self.run(conn, "SELECT 1")
        else:
            await conn.begin()

    async def host_id(self, conn: Any) -> str:
        sql = "SELECT aurora_db_instance_identifier()" if self.pg else "SELECT @@report_host"
        return str((await self.run(conn, sql))[0][0])

    async def is_reader(self, conn: Any) -> bool:
        sql = "SELECT pg_is_in_recovery()" if self.pg else "SELECT @@read_only"
        return bool((await self.run(conn, sql))[0][0])

    # --- direct (unwrapped) access to the current writer -----------------------------------------------

    async def direct(self, target: Instance | None = None) -> Any:
        inst = target or self.tb.writer
        if self.pg:
            return await psycopg.AsyncConnection.connect(self.tb.dsn(inst, direct=True), autocommit=True)
        return await aiomysql.connect(**self.tb.connect_kwargs(inst, direct=True), autocommit=True)

    async def create_table(self) -> None:
        conn = await self.direct()
        try:
            await self.run(conn, f"CREATE TABLE {self.table} (id int PRIMARY KEY)")
        finally:
            await _close(conn)
        await self.tb.wait_replicated()

    async def ids(self) -> set[int]:
        """Every id committed in the test table, read on the current writer."""
        conn = await self.direct()
        try:
            return {int(r[0]) for r in await self.run(conn, f"SELECT id FROM {self.table}")}
        finally:
            await _close(conn)


async def _close(conn: Any) -> None:
    if isinstance(conn, psycopg.AsyncConnection):
        await conn.close()
    else:
        await conn.ensure_closed()
