"""AsyncAwsConnectionPool over aiomysql against a real MariaDB server."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomysql
import pytest

from awsasyncwrap.pool import AsyncAwsConnectionPool

pytestmark = pytest.mark.timeout(60)


async def raw_rows(kwargs: dict[str, Any], sql: str) -> list[tuple[Any, ...]]:
    conn = await aiomysql.connect(autocommit=True, **kwargs)
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            return list(await cur.fetchall())
    finally:
        conn.close()


async def test_mysql_pool_commit_rollback_and_discard(mysql_kwargs: dict[str, Any]) -> None:
    await raw_rows(mysql_kwargs, "CREATE OR REPLACE TABLE pool_items (id INT PRIMARY KEY)")
    async with AsyncAwsConnectionPool(
        aiomysql.connect,
        wrapper_dialect="mariadb",
        min_size=1,
        max_size=2,
        check=AsyncAwsConnectionPool.ping,
        **mysql_kwargs,
    ) as pool:
        async with pool.connection() as conn:
            cur = await conn.cursor()
            await cur.execute("INSERT INTO pool_items VALUES (1)")
            await cur.execute("SELECT CONNECTION_ID()")
            (conn_id,) = await cur.fetchone()
        with pytest.raises(RuntimeError):
            async with pool.connection() as same:
                assert same is conn
                cur = await same.cursor()
                await cur.execute("INSERT INTO pool_items VALUES (2)")
                raise RuntimeError("boom")
        assert await raw_rows(mysql_kwargs, "SELECT id FROM pool_items") == [(1,)]
        await raw_rows(mysql_kwargs, f"KILL {int(conn_id)}")
        async with pool.connection() as fresh:  # the ping finds the killed one
            assert fresh is not conn
            cur = await fresh.cursor()
            await cur.execute("SELECT 1")
            assert await cur.fetchone() == (1,)
        results = await asyncio.gather(*(_one(pool, i) for i in range(20)))
        assert results == list(range(20)) and pool.size <= 2


async def _one(pool: AsyncAwsConnectionPool, i: int) -> int:
    async with pool.connection() as conn:
        cur = await conn.cursor()
        await cur.execute("SELECT %s", (i,))
        (value,) = await cur.fetchone()
        return int(value)
