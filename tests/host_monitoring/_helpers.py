"""Helpers of the host_monitoring tests: short EFM settings, connecting, server cleanup, thread checks."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import aiomysql
import psycopg

import wrapped
from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.plugins.host_monitoring import TASK_PREFIX, HostMonitor, HostMonitoringPlugin
from awsasyncwrap.testbed import Instance, Testbed
from polling import until as until

#: Short EFM settings: grace 0.5 s, then a probe every 0.2 s, dead after 2 failures.
EFM: dict[str, Any] = {
    "failure_detection_time_ms": 500,
    "failure_detection_interval_ms": 200,
    "failure_detection_count": 2,
}
#: failure_detection_time + interval * count, in seconds.
DETECTION = 0.5 + 0.2 * 2
#: What the issue allows on top of the detection time.
SLACK = 0.5


async def connect(
    tb: Testbed, inst: Instance, plugins: str = "host_monitoring", *, aurora: bool = True, **props: Any
) -> AsyncAwsConnection:
    """A wrapped autocommit connection to ``inst`` with the short EFM settings (``props`` override them).

    ``aurora``: with ``tb.wrapper_props()``; without them a MariaDB testbed is a plain MariaDB server.
    """
    return await wrapped.connect(
        tb, inst, aurora=aurora, plugins=plugins, autocommit=True, **{**EFM, **props}
    )


async def pg_connect(
    tb: Testbed, inst: Instance, plugins: str = "host_monitoring", **props: Any
) -> AsyncAwsConnection:
    return await connect(tb, inst, plugins, **props)


async def mysql_connect(
    tb: Testbed, inst: Instance, plugins: str = "host_monitoring", **props: Any
) -> AsyncAwsConnection:
    """The plain MariaDB dialect: no topology."""
    return await connect(tb, inst, plugins, aurora=False, **props)


def monitor_of(conn: AsyncAwsConnection) -> HostMonitor:
    """The host monitor a wrapped connection uses (after its first monitored call)."""
    plugin = next(p for p in conn.plugin_service.plugins if isinstance(p, HostMonitoringPlugin))
    assert plugin.monitor is not None
    return plugin.monitor


def monitor_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(TASK_PREFIX)]


async def pg_running(tb: Testbed, inst: Instance, fragment: str) -> bool:
    """Whether a query containing ``fragment`` runs on ``inst`` (asked over a direct connection)."""
    async with await psycopg.AsyncConnection.connect(tb.dsn(inst, direct=True), autocommit=True) as raw:
        cur = await raw.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s"
            " AND pid <> pg_backend_pid()",
            (f"%{fragment}%",),
        )
        row = await cur.fetchone()
        return bool(row and row[0])


async def pg_terminate(tb: Testbed, fragment: str) -> None:
    """End every backend of every running instance whose query contains ``fragment``."""
    for inst in tb.instances:
        if not inst.running:
            continue
        async with await psycopg.AsyncConnection.connect(tb.dsn(inst, direct=True), autocommit=True) as raw:
            await raw.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE %s"
                " AND pid <> pg_backend_pid()",
                (f"%{fragment}%",),
            )


async def mysql_running(tb: Testbed, inst: Instance, fragment: str) -> bool:
    conn = await aiomysql.connect(**tb.connect_kwargs(inst, direct=True))
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT count(*) FROM information_schema.processlist"
                " WHERE info LIKE %s AND id <> CONNECTION_ID()",
                (f"%{fragment}%",),
            )
            row = await cur.fetchone()
            return bool(row and row[0])
    finally:
        conn.close()


async def mysql_terminate(tb: Testbed, fragment: str) -> None:
    for inst in tb.instances:
        if not inst.running:
            continue
        conn = await aiomysql.connect(**tb.connect_kwargs(inst, direct=True), autocommit=True)
        try:
            async with conn.cursor() as cur:
                await cur.execute(
                    "SELECT id FROM information_schema.processlist"
                    " WHERE info LIKE %s AND id <> CONNECTION_ID()",
                    (f"%{fragment}%",),
                )
                for (thread_id,) in await cur.fetchall():
                    with contextlib.suppress(aiomysql.Error):  # already gone
                        await cur.execute(f"KILL {int(thread_id)}")
        finally:
            conn.close()


async def raise_pg_max_connections(tb: Testbed, wanted: int) -> None:
    """Restart every PostgreSQL instance of ``tb`` with ``max_connections = wanted`` (the testbed sets 100).

    Replicas first: a hot standby refuses to run with a lower max_connections than its primary.
    """
    for inst in tb.instances:
        async with await psycopg.AsyncConnection.connect(tb.dsn(inst, direct=True), autocommit=True) as raw:
            await raw.execute(f"ALTER SYSTEM SET max_connections = {int(wanted)}")
    for inst in [*tb.readers, tb.writer]:
        await tb.kill(inst)
        await tb.start_instance(inst)
    for inst in tb.instances:
        async with await psycopg.AsyncConnection.connect(tb.dsn(inst, direct=True), autocommit=True) as raw:
            cur = await raw.execute("SHOW max_connections")
            assert await cur.fetchone() == (str(wanted),)


class ThreadWatch:
    """Records every thread alive while it runs (sampled on each loop turn by a task)."""

    def __init__(self) -> None:
        self.before = {t.ident for t in threading.enumerate()}
        self.seen: set[int | None] = set(self.before)
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.seen.update(t.ident for t in threading.enumerate())
            await asyncio.sleep(0.001)

    async def __aenter__(self) -> ThreadWatch:
        self._task = asyncio.get_running_loop().create_task(self._sample(), name="test:thread-watch")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self.seen.update(t.ident for t in threading.enumerate())

    @property
    def created(self) -> set[int | None]:
        return self.seen - self.before
