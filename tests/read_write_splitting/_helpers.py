"""Engine-neutral helpers of the read/write splitting tests (PostgreSQL and MariaDB testbeds)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiomysql
import psycopg

from awsasyncwrap import AsyncAwsConnection, Plugin
from awsasyncwrap.testbed import Instance, Testbed

__all__ = ["MARIADB_TOPOLOGY_PROPS", "Db", "until", "wrapper_tasks"]

P = TypeVar("P", bound=Plugin)

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


class Db:
    """A testbed plus how to talk to it with either driver."""

    def __init__(self, tb: Testbed) -> None:
        self.tb = tb
        self.pg = tb.engine == "postgres"

    async def connect(
        self,
        target: Instance | str | tuple[str, int] | None = None,
        plugins: str = "read_write_splitting,failover",
        topology: bool = True,
        **props: Any,
    ) -> AsyncAwsConnection:
        """A wrapped connection to ``target`` (default: the cluster endpoint)."""
        tb = self.tb
        if topology:
            props.setdefault("cluster_instance_host_pattern", tb.host_pattern)
        props.setdefault("autocommit", True)
        props.setdefault("monitor_disposal_time_ms", 0)
        props["plugins"] = plugins
        if self.pg:
            return await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, tb.dsn(target), **props)
        extra = MARIADB_TOPOLOGY_PROPS if topology else {}
        return await AsyncAwsConnection.connect(
            aiomysql.connect, **{**extra, **tb.connect_kwargs(target), **props}
        )

    @staticmethod
    async def run(conn: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run ``sql`` on a new cursor; all rows (if any)."""
        cur = conn.cursor()
        if hasattr(cur, "__await__"):
            cur = await cur
        try:
            await cur.execute(sql, params)
            return list(await cur.fetchall()) if cur.description is not None else []
        finally:
            await cur.close()

    async def host_id(self, conn: Any) -> str:
        """The instance id of the server the connection is on."""
        sql = "SELECT aurora_db_instance_identifier()" if self.pg else "SELECT @@report_host"
        return str((await self.run(conn, sql))[0][0])

    async def is_reader(self, conn: Any) -> bool:
        sql = "SELECT pg_is_in_recovery()" if self.pg else "SELECT @@read_only"
        return bool((await self.run(conn, sql))[0][0])

    async def backend_id(self, conn: Any) -> int:
        """The server's id of the session (pid / connection id)."""
        sql = "SELECT pg_backend_pid()" if self.pg else "SELECT CONNECTION_ID()"
        return int((await self.run(conn, sql))[0][0])

    async def begin(self, conn: AsyncAwsConnection) -> None:
        """Open a transaction (psycopg: autocommit off and a statement; aiomysql: BEGIN)."""
        if self.pg:
            await conn.set_autocommit(False)
            await self.run(conn, "SELECT 1")
        else:
            await conn.begin()

    @property
    def writer_id(self) -> str:
        return self.tb.writer.id

    @property
    def reader_ids(self) -> set[str]:
        return {inst.id for inst in self.tb.readers}


def plugin_of(conn: AsyncAwsConnection, cls: type[P]) -> P:
    """The connection's plugin of class ``cls``."""
    return next(p for p in conn.plugin_service.plugins if isinstance(p, cls))


def wrapper_tasks() -> list[asyncio.Task[Any]]:
    """Every live task the wrapper owns."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("awsasyncwrap:") and not t.done()]


async def until(
    condition: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, every: float = 0.02
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(every)
