"""No acknowledged commit is lost by failover() or kill() of the writer; capacity for many clients."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiomysql
import anyio
import psycopg
import pytest

from awsasyncwrap.testbed import Instance, Testbed
from awsasyncwrap.testbed._wait import until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

WRITERS = 8  # concurrent app connections writing through the cluster endpoint


@pytest.fixture
def tb(cluster_testbed: Testbed) -> Testbed:
    return cluster_testbed


class App:
    """Raw driver connections (no wrapper) through the cluster endpoint, as an app would hold them."""

    def __init__(self, tb: Testbed) -> None:
        self.tb = tb
        self.pg = tb.engine == "postgres"
        self.table = f"dur_{uuid.uuid4().hex[:8]}"
        self.acked: set[int] = set()
        self.failures = 0

    async def connect(self, target: Instance | str | None = None) -> Any:
        with anyio.fail_after(10):
            if self.pg:
                dsn = self.tb.dsn(target, connect_timeout=2)
                return await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            kwargs = self.tb.connect_kwargs(target, autocommit=True, connect_timeout=2)
            return await aiomysql.connect(**kwargs)

    async def close(self, conn: Any) -> None:
        if self.pg:
            await conn.close()
        else:
            conn.close()

    async def execute(self, conn: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with anyio.fail_after(10):
            if self.pg:
                cur = await conn.execute(sql, args)
                return await cur.fetchall() if cur.description else []
            cur = await conn.cursor()
            try:
                await cur.execute(sql, args)
                return list(await cur.fetchall()) if cur.description else []
            finally:
                await cur.close()

    async def query(self, target: Instance | str | None, sql: str) -> list[tuple[Any, ...]]:
        conn = await self.connect(target)
        try:
            return await self.execute(conn, sql)
        finally:
            await self.close(conn)

    async def ids(self, target: Instance | str | None = None) -> set[int]:
        return {int(row[0]) for row in await self.query(target, f"SELECT id FROM {self.table}")}

    async def writer_loop(self, number: int, stop: asyncio.Event) -> None:
        """Insert ids ``number * 10**6 + n`` one by one; an id is acknowledged when the insert returns.

        On an error (outcome unknown) reconnect and go on: a real app with a retry loop.
        """
        conn: Any = None
        n = 0
        try:
            while not stop.is_set():
                value = number * 1_000_000 + n
                n += 1
                try:
                    if conn is None:
                        conn = await self.connect()
                    await self.execute(conn, f"INSERT INTO {self.table} (id) VALUES (%s)", (value,))
                except (psycopg.Error, aiomysql.Error, OSError, TimeoutError):
                    self.failures += 1
                    if conn is not None:
                        await self.close(conn)
                        conn = None
                    await asyncio.sleep(0.01)  # pacing of the retry loop, not synchronisation
                else:
                    self.acked.add(value)
        finally:
            if conn is not None:
                await self.close(conn)

    async def writing_through(self, fault: Callable[[], Awaitable[object]]) -> None:
        """Run the writers, apply ``fault`` while they write, stop once writes succeed again."""
        await self.query(None, f"CREATE TABLE {self.table} (id int PRIMARY KEY)")
        await self.tb.wait_replicated()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(self.writer_loop(i, stop)) for i in range(WRITERS)]
        try:

            async def writing(at_least: int) -> bool:
                return len(self.acked) >= at_least

            with anyio.fail_after(20):
                await until(lambda: writing(200))
                await fault()
                recovered = len(self.acked) + 200
                await until(lambda: writing(recovered))
        finally:
            stop.set()
            with anyio.fail_after(20):
                await asyncio.gather(*tasks)


async def test_failover_loses_no_acknowledged_commit(tb: Testbed) -> None:
    app = App(tb)
    old = tb.writer
    reports = []

    async def failover() -> None:
        reports.append(await tb.failover())

    await app.writing_through(failover)
    assert reports[0].old_writer == old.id and tb.writer is not old
    assert reports[0].total < 2.0, reports[0]
    rows = await app.ids()
    assert app.acked <= rows, f"lost {len(app.acked - rows)} of {len(app.acked)} acknowledged rows"
    assert app.failures > 0  # the writers did see the failover
    await tb.rejoin(old)
    await tb.wait_replicated()
    for inst in tb.instances:
        assert app.acked <= await app.ids(inst), inst


async def test_killing_the_writer_loses_no_acknowledged_commit(tb: Testbed) -> None:
    app = App(tb)
    old = tb.writer

    async def kill_then_failover() -> None:
        await tb.kill(old)
        await tb.failover()

    await app.writing_through(kill_then_failover)
    rows = await app.ids()
    assert app.acked <= rows, f"lost {len(app.acked - rows)} of {len(app.acked)} acknowledged rows"


async def test_held_connections_of_a_killed_writer_are_reset(tb: Testbed) -> None:
    """A fenced writer's connections: held during the catch-up, reset once it is dead (no late ack)."""
    app = App(tb)
    old = tb.writer
    conn = await app.connect(old)
    try:
        await tb.kill(old)
        with pytest.raises((psycopg.OperationalError, aiomysql.OperationalError)):
            await app.execute(conn, "SELECT 1")
    finally:
        await app.close(conn)
    assert tb.net_mode(old) == "pass"  # a dead host behind a passing proxy: connections are refused
    with pytest.raises((psycopg.OperationalError, aiomysql.OperationalError)), anyio.fail_after(5):
        await app.connect(old)


async def test_connection_limit_fits_many_clients(tb: Testbed) -> None:
    app = App(tb)
    variable = "SHOW max_connections" if app.pg else "SELECT @@max_connections"
    for inst in tb.instances:
        assert int((await app.query(inst, variable))[0][0]) >= 300, inst
    count = 150
    conns = await asyncio.gather(*(app.connect() for _ in range(count)))
    try:
        results = await asyncio.gather(*(app.execute(conn, "SELECT 1") for conn in conns))
        assert all(result == [(1,)] for result in results)
        assert (await tb.status()).healthy  # the testbed's own connections still get through
    finally:
        await asyncio.gather(*(app.close(conn) for conn in conns))
