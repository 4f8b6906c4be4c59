"""AsyncAwsConnectionPool through a real writer failover on the emulated Aurora clusters."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomysql
import psycopg
import pytest

from awsasyncwrap.errors import FailoverSuccessError
from awsasyncwrap.pool import AsyncAwsConnectionPool
from awsasyncwrap.testbed import Testbed

pytestmark = [pytest.mark.timeout(90), pytest.mark.cluster]


def cluster_pool(tb: Testbed, **opts: Any) -> AsyncAwsConnectionPool:
    props: dict[str, Any] = {
        "plugins": "failover",
        **tb.wrapper_props(),
        "failover_timeout_sec": 30,
        "autocommit": True,
        **opts,
    }
    if tb.engine == "postgres":
        return AsyncAwsConnectionPool(psycopg.AsyncConnection.connect, tb.dsn(), **props)
    return AsyncAwsConnectionPool(aiomysql.connect, **tb.connect_kwargs(), **props)


async def is_writer(conn: Any, engine: str) -> bool:
    sql = "SELECT NOT pg_is_in_recovery()" if engine == "postgres" else "SELECT @@read_only = 0"
    cur = await conn.cursor().__aenter__() if engine == "postgres" else await conn.cursor()
    await cur.execute(sql)
    (value,) = await cur.fetchone()
    return bool(value)


async def test_pg_pooled_connections_survive_writer_failover(pg_cluster: Testbed) -> None:
    await pooled_connections_survive_writer_failover(pg_cluster)


async def test_mysql_pooled_connections_survive_writer_failover(mariadb_cluster: Testbed) -> None:
    await pooled_connections_survive_writer_failover(mariadb_cluster)


async def pooled_connections_survive_writer_failover(tb: Testbed) -> None:
    engine = tb.engine
    async with cluster_pool(tb, min_size=3, max_size=3) as pool:
        conns = [await pool.getconn() for _ in range(3)]
        for conn in conns:
            assert await is_writer(conn, engine)
            await pool.putconn(conn)
        old_writer = tb.writer.id
        await tb.failover()
        assert tb.writer.id != old_writer

        async def use() -> int:
            failovers = 0
            for _ in range(3):
                try:
                    async with pool.connection() as conn:
                        assert await is_writer(conn, engine)
                        return failovers
                except FailoverSuccessError:
                    failovers += 1  # the connection moved to the new writer: run it again
            raise AssertionError("no success after 3 attempts")

        # hold all three at once so that every pooled connection meets the failover
        results = await asyncio.wait_for(asyncio.gather(*(use() for _ in range(3))), 60)
        assert sum(results) == 3
        stats = pool.get_stats()
        assert stats["discarded"] == 0 and stats["failovers"] == 3 and stats["connects"] == 3
        assert {c.current_host.host_id for c in conns if c.current_host} == {tb.writer.id}


async def test_psycopg_pool_hosted_connections_survive_writer_failover(pg_cluster: Testbed) -> None:
    """psycopg_pool with AwsPsycopgConnection: a failed-over connection goes back to the pool and works."""
    from psycopg_pool import AsyncConnectionPool

    from awsasyncwrap import release_resources
    from awsasyncwrap.pool import AwsPsycopgConnection

    tb = pg_cluster
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        tb.dsn(),
        connection_class=AwsPsycopgConnection,
        kwargs={
            "plugins": "failover",
            **tb.wrapper_props(),
            "failover_timeout_sec": 30,
            "monitor_disposal_time_ms": 0,
            "autocommit": True,
        },
        min_size=1,
        max_size=1,
        open=False,
    )
    try:
        async with pool:
            async with pool.connection() as conn:
                assert await is_writer(conn, "postgres")
            report = await tb.failover()
            with pytest.raises(FailoverSuccessError):
                async with pool.connection() as again:
                    assert again is conn
                    await again.execute("SELECT 1")
            async with pool.connection() as again:
                assert again is conn  # kept by psycopg_pool: its driver connection is the new writer's
                assert await is_writer(again, "postgres")
                assert again.current_host is not None and again.current_host.host_id == report.new_writer
    finally:
        await release_resources()
