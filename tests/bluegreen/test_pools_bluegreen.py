"""``bg`` with the connection holders apps use (psycopg_pool, read/write splitting) through a switchover."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from psycopg_pool import AsyncConnectionPool

from awsasyncwrap.pool import AwsPsycopgConnection
from awsasyncwrap.testbed import BlueGreenDeployment

from ._app import Call, WriterApp
from .test_switchover import through_switchover

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

    async def _write(self, conn: Any, call: Call) -> None:
        async with self.pool.connection() as pooled:
            await self._insert(pooled, call)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            for _ in range(self.workers):
                tg.start_soon(self._worker, None)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def aclose(self) -> None:
        if self.pool is not None:
            await self.pool.close()


async def test_psycopg_pool_through_switchover(pg_bluegreen: BlueGreenDeployment) -> None:
    app = PooledWriterApp(pg_bluegreen, workers=4, props={"bg_interval_increased_ms": 300})
    await through_switchover(pg_bluegreen, app)


RW_PLUGINS = "bg,read_write_splitting,failover,host_monitoring"


async def test_postgres_read_write_splitting_through_switchover(pg_bluegreen: BlueGreenDeployment) -> None:
    app = WriterApp(pg_bluegreen, workers=4, plugins=RW_PLUGINS, props={"bg_interval_increased_ms": 300})
    await through_switchover(pg_bluegreen, app)


async def test_mariadb_read_write_splitting_through_switchover(
    mariadb_bluegreen: BlueGreenDeployment,
) -> None:
    app = WriterApp(mariadb_bluegreen, workers=4, plugins=RW_PLUGINS, props={"bg_interval_increased_ms": 300})
    await through_switchover(mariadb_bluegreen, app)
