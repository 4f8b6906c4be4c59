"""A small engine-neutral layer over the testbed for the failover tests (PostgreSQL and MariaDB)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiomysql
import psycopg

from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap._background import registry
from awsasyncwrap.testbed import Instance, Testbed
from awsasyncwrap.topology import ClusterTopologyMonitor

__all__ = ["MARIADB_TOPOLOGY_PROPS", "Cluster", "topology_monitors", "until", "wrapper_tasks"]

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


async def until(
    condition: Callable[[], bool | Awaitable[bool]], within: float = 10.0, every: float = 0.01
) -> None:
    """Poll ``condition`` until it holds; AssertionError after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(every)


def wrapper_tasks() -> list[asyncio.Task[Any]]:
    """Unfinished tasks of the running loop that run the wrapper's code (the testbed's excluded)."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        path = code.co_filename.replace("\\", "/") if code is not None else ""
        if not task.done() and "/awsasyncwrap/" in path and "/awsasyncwrap/testbed/" not in path:
            found.append(task)
    return found


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

    def sleep_sql(self, seconds: float) -> str:
        return f"SELECT pg_sleep({seconds:g})" if self.pg else f"SELECT SLEEP({seconds:g})"

    def error_code(self, exc: BaseException) -> str | None:
        """SQLSTATE (PostgreSQL) or MySQL error number of a driver error."""
        if self.pg:
            return getattr(exc, "sqlstate", None)
        args = getattr(exc, "args", ())
        return str(args[0]) if args and isinstance(args[0], int) else None

    async def wait_running(self, host_id: str, sql: str, timeout: float = 10.0) -> None:
        """Poll (bounded) until ``sql`` runs on instance ``host_id``."""
        conn = await self.direct(self.tb.instance(host_id))
        if self.pg:
            check = "SELECT count(*) FROM pg_stat_activity WHERE query = %s AND state = 'active'"
        else:
            check = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = %s"

        async def running() -> bool:
            return bool((await self.run(conn, check, (sql,)))[0][0])

        try:
            await until(running, timeout)
        finally:
            await _close(conn)

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

    async def query_writer(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` run on the current writer (direct, unwrapped)."""
        conn = await self.direct()
        try:
            return await self.run(conn, sql)
        finally:
            await _close(conn)

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
