"""psycopg_pool.AsyncConnectionPool hosting wrapped connections through AwsPsycopgConnection."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.plugins.dev import DeveloperPlugin
from awsasyncwrap.pool import AwsPsycopgConnection

pytestmark = pytest.mark.timeout(60)


async def test_psycopg_pool_with_wrapped_connections(pg_dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as raw:
        await raw.execute("DROP TABLE IF EXISTS pp_items; CREATE TABLE pp_items (id int PRIMARY KEY)")
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pg_dsn,
        connection_class=AwsPsycopgConnection,
        kwargs={"plugins": "dev", "wrapper_dialect": "pg"},
        min_size=1,
        max_size=1,
        check=AsyncConnectionPool.check_connection,
        open=False,
    )
    async with pool:
        async with pool.connection() as conn:
            assert isinstance(conn, AsyncAwsConnection)
            await conn.execute("INSERT INTO pp_items VALUES (1)")
        assert not conn.closed  # returned, not closed
        async with pool.connection() as again:
            assert again is conn
            cur = await again.execute("SELECT count(*) FROM pp_items")
            assert await cur.fetchone() == (1,)  # committed on leaving the block
        with pytest.raises(RuntimeError):
            async with pool.connection() as again:
                await again.execute("INSERT INTO pp_items VALUES (2)")
                DeveloperPlugin.of(again).simulator.raise_on_next_call(RuntimeError("x"), "Cursor.execute")
                await again.execute("SELECT 1")
        async with pool.connection() as again:
            cur = await again.execute("SELECT count(*) FROM pp_items")
            assert await cur.fetchone() == (1,)  # rolled back
        await conn.target_connection.close()  # broken behind the pool's back: discarded by the check
        async with pool.connection() as fresh:
            assert fresh is not conn
            cur = await fresh.execute("SELECT 1")
            assert await cur.fetchone() == (1,)
    assert fresh.closed
