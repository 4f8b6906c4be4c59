"""A small engine-neutral layer over the testbed for the failover tests (PostgreSQL and MariaDB)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import aiomysql
import psycopg

from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap._background import registry
from awsasyncwrap.plugins.failover import FailoverPlugin
from awsasyncwrap.plugins.failover._plugin import IDLE_LINK_CHECK_SEC
from awsasyncwrap.testbed import Instance, Testbed
from awsasyncwrap.topology import ClusterTopologyMonitor
from polling import until
from wrapped import Db, Target

__all__ = ["Cluster", "link_gone", "topology_monitors", "until", "wrapper_tasks"]

_tables = itertools.count(1)


def wrapper_tasks() -> list[asyncio.Task[Any]]:
    """Unfinished tasks of the running loop that run the wrapper's code (the testbed's excluded)."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        path = code.co_filename.replace("\\", "/") if code is not None else ""
        if not task.done() and "/awsasyncwrap/" in path and "/awsasyncwrap/testbed/" not in path:
            found.append(task)
    return found


async def link_gone(conn: AsyncAwsConnection, timeout: float = 10.0) -> None:
    """Wait until the client side knows that ``conn``'s link is gone (the testbed's proxy closed or reset it
    after the instance died) and the connection sat idle long enough for its next call to check that, so
    that the call surely never reaches a server (FailoverSuccessError)."""
    driver = conn.plugin_service.driver_dialect
    plugin = next(p for p in conn.plugin_service.plugins if isinstance(p, FailoverPlugin))

    def gone() -> bool:
        idle = time.monotonic() - plugin._last_call > IDLE_LINK_CHECK_SEC
        return idle and driver.link_lost(conn.target_connection)

    await until(gone, timeout)


def topology_monitors() -> list[ClusterTopologyMonitor]:
    """Every live topology monitor of the running loop."""
    return [s for s in registry().services() if isinstance(s, ClusterTopologyMonitor) and not s.closed]


class Cluster(Db):
    """A testbed plus how to talk to it with either driver, and a test table of its own."""

    def __init__(self, tb: Testbed) -> None:
        super().__init__(tb)
        self.table = f"fo_{int(time.time() * 1000) % 10_000_000}_{next(_tables)}"

    # --- wrapped connections ----------------------------------------------------------------------

    async def connect(
        self, target: Target = None, *, aurora: bool = True, **props: Any
    ) -> AsyncAwsConnection:
        """A wrapped connection to ``target`` (default: the cluster endpoint) with the failover plugin."""
        props.setdefault("plugins", "failover")
        return await super().connect(target, aurora=aurora, **props)

    async def insert(self, conn: Any, value: int) -> None:
        await self.run(conn, f"INSERT INTO {self.table} (id) VALUES (%s)", (value,))

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
