"""``bg`` with the connection holders apps use (psycopg_pool, read/write splitting) through a switchover."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from psycopg_pool import AsyncConnectionPool

from awsasyncwrap import release_resources
from awsasyncwrap.plugins.blue_green import Phase, status_services
from awsasyncwrap.pool import AwsPsycopgConnection
from awsasyncwrap.testbed import BlueGreenDeployment, PhaseSeconds

from ._app import Call, WriterApp, rows_on, wait_phase

pytestmark = pytest.mark.timeout(180)


@dataclass
class PooledWriterApp(WriterApp):
    """Workers that take a connection from a psycopg_pool for every insert."""

    pool: Any = None

    async def prepare(self) -> None:
        conn = await self.connect()
        try:
            await conn.cursor().execute("CREATE TABLE bg_items (id int PRIMARY KEY)")
        finally:
            await conn.close()
        self.pool = AsyncConnectionPool(
            self.deployment.dsn(),
            connection_class=AwsPsycopgConnection,
            kwargs={"plugins": self.plugins, "autocommit": True, **self.props},
            min_size=2,
            max_size=self.workers,
            check=AsyncConnectionPool.check_connection,
            open=False,
        )
        await self.pool.open(wait=True, timeout=30)

    async def _pooled_worker(self) -> None:
        while True:
            self._next += 1
            call = Call(self._next, time.monotonic())
            self.calls.append(call)
            try:
                async with self.pool.connection() as conn:
                    await self._insert(conn, call)
            except Exception as exc:
                call.error = f"{type(exc).__name__}: {exc}"
            else:
                self.acknowledged.add(call.row)
            call.end = time.monotonic()
            await asyncio.sleep(0.01)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            for _ in range(self.workers):
                tg.start_soon(self._pooled_worker)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def aclose(self) -> None:
        if self.pool is not None:
            await self.pool.close()


async def _check_through_switchover(bg: BlueGreenDeployment, app: WriterApp) -> None:
    await app.prepare()
    try:
        async with app.running():
            await wait_phase(Phase.CREATED)
            await app.wait_rows(30)
            report = await bg.switchover(PhaseSeconds(preparation=1.0, notice=0.3, post=1.0))
            await app.wait_rows(30)
    finally:
        await app.aclose()
    assert app.errors == []
    green_rows = await rows_on(bg, bg.green.writer)
    blue_rows = await rows_on(bg, bg.blue.writer)
    assert app.acknowledged <= green_rows
    late = {c.row for c in app.calls if c.start > report.promoted_at}
    assert late and not (late & blue_rows)  # no write on blue after green was promoted
    assert len(status_services()) == 1 and status_services()[0].task_count == 2
    await release_resources()
    assert status_services() == []


async def test_psycopg_pool_through_switchover(pg_bluegreen: BlueGreenDeployment) -> None:
    app = PooledWriterApp(pg_bluegreen, workers=4, props={"bg_interval_increased_ms": 300})
    await _check_through_switchover(pg_bluegreen, app)


RW_PLUGINS = "bg,read_write_splitting,failover,host_monitoring"


async def test_postgres_read_write_splitting_through_switchover(pg_bluegreen: BlueGreenDeployment) -> None:
    app = WriterApp(pg_bluegreen, workers=4, plugins=RW_PLUGINS, props={"bg_interval_increased_ms": 300})
    await _check_through_switchover(pg_bluegreen, app)


async def test_mariadb_read_write_splitting_through_switchover(
    mariadb_bluegreen: BlueGreenDeployment,
) -> None:
    app = WriterApp(mariadb_bluegreen, workers=4, plugins=RW_PLUGINS, props={"bg_interval_increased_ms": 300})
    await _check_through_switchover(mariadb_bluegreen, app)
