"""aiomysql's pool API (``create_pool``) over the failover-aware pool, against a real MariaDB server and, for
failover, the emulated Aurora MySQL cluster."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomysql
import anyio
import pytest

from awsasyncwrap import AsyncAwsConnection, FailoverSuccessError
from awsasyncwrap.pool import AiomysqlPool, PoolClosed, create_pool
from awsasyncwrap.testbed import Testbed

pytestmark = pytest.mark.timeout(90)


async def rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cur:
        await cur.execute(sql)
        return list(await cur.fetchall())


async def sessions(kwargs: dict[str, Any], ids: set[int]) -> set[int]:
    """Which of the session ids ``ids`` the server still has."""
    raw = await aiomysql.connect(autocommit=True, **kwargs)
    try:
        listed = await rows(raw, "SELECT ID FROM information_schema.PROCESSLIST")
        return ids & {int(r[0]) for r in listed}
    finally:
        raw.close()


async def test_acquire_release_sizes_and_close(mysql_kwargs: dict[str, Any]) -> None:
    pool = await create_pool(minsize=2, maxsize=3, plugins="", autocommit=True, **mysql_kwargs)
    assert isinstance(pool, AiomysqlPool)
    assert (pool.minsize, pool.maxsize, pool.size, pool.freesize) == (2, 3, 2, 2)
    async with pool.acquire() as conn:
        assert isinstance(conn, AsyncAwsConnection)
        assert pool.freesize == 1
        ((first_id,),) = await rows(conn, "SELECT CONNECTION_ID()")
    assert pool.freesize == 2
    conn = await pool.acquire()
    ((second_id,),) = await rows(conn, "SELECT CONNECTION_ID()")
    other = await pool.acquire()
    with pytest.raises(ValueError, match="not acquired from this pool"):
        pool.release(object())
    await pool.release(conn)
    with pytest.raises(ValueError, match="given back already"):
        pool.release(conn)

    pool.close()
    with pytest.raises(PoolClosed):
        await pool.acquire()
    with pytest.raises(RuntimeError):  # aiomysql's error for it
        await pool.acquire()
    closing = asyncio.ensure_future(pool.wait_closed())
    done, _ = await asyncio.wait({closing}, timeout=0.2)
    assert not done, "wait_closed() returned while a connection was still acquired"
    await pool.release(other)
    with anyio.fail_after(10):
        await closing
    assert pool.closed and pool.size == 0
    assert await sessions(mysql_kwargs, {int(first_id), int(second_id)}) == set()


async def test_async_with_forms_and_a_transaction_left_open(mysql_kwargs: dict[str, Any]) -> None:
    async with create_pool(minsize=1, maxsize=1, plugins="", **mysql_kwargs) as pool:
        async with pool.acquire() as conn:
            await rows(conn, "CREATE OR REPLACE TABLE aiopool_items (id INT PRIMARY KEY)")
            await conn.begin()
            await rows(conn, "INSERT INTO aiopool_items VALUES (1)")
        # given back inside its transaction: rolled back and kept (aiomysql would close it)
        async with pool.acquire() as again:
            assert again is conn
            assert await rows(again, "SELECT id FROM aiopool_items") == []
        with pytest.raises(ZeroDivisionError):
            async with pool.acquire() as conn:
                1 / 0  # noqa: B018
        assert pool.freesize == 1
    assert pool.closed and pool.size == 0


async def test_pool_recycle_and_clear_and_terminate(mysql_kwargs: dict[str, Any]) -> None:
    async with create_pool(minsize=1, maxsize=2, pool_recycle=0, plugins="", **mysql_kwargs) as pool:
        async with pool.acquire() as conn:
            ((a,),) = await rows(conn, "SELECT CONNECTION_ID()")
        async with pool.acquire() as conn:  # older than pool_recycle: a new one
            ((b,),) = await rows(conn, "SELECT CONNECTION_ID()")
        assert a != b
    pool = await create_pool(minsize=2, maxsize=2, plugins="", **mysql_kwargs)
    await pool.clear()
    assert pool.freesize == 0
    held = await pool.acquire()
    ((held_id,),) = await rows(held, "SELECT CONNECTION_ID()")
    pool.terminate()
    assert held.closed
    await pool.release(held)
    with anyio.fail_after(10):
        await pool.wait_closed()
    assert await sessions(mysql_kwargs, {int(held_id)}) == set()


@pytest.mark.cluster
async def test_a_connection_that_failed_over_stays_in_the_pool(mariadb_cluster: Testbed) -> None:
    tb = mariadb_cluster
    props: dict[str, Any] = {"plugins": "failover", **tb.wrapper_props(), "autocommit": True}
    async with create_pool(minsize=1, maxsize=1, **tb.connect_kwargs(), **props) as pool:
        async with pool.acquire() as conn:
            ((before,),) = await rows(conn, "SELECT @@report_host")
        await tb.failover()
        with pytest.raises(FailoverSuccessError):
            async with pool.acquire() as conn:
                await rows(conn, "SELECT 1")
        assert pool.freesize == 1
        async with pool.acquire() as same:
            assert same is conn
            ((after,),) = await rows(same, "SELECT @@report_host")
        assert after == tb.writer.id != before
