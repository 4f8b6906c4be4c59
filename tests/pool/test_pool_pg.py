"""AsyncAwsConnectionPool over psycopg against a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import psycopg
import pytest

from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.errors import FailoverFailedError, FailoverSuccessError, TransactionResolutionUnknownError
from awsasyncwrap.plugins.dev import DeveloperPlugin
from awsasyncwrap.pool import AsyncAwsConnectionPool, PoolClosed, PoolTimeout

from ._util import until

pytestmark = pytest.mark.timeout(60)


def make_pool(dsn: str, **opts: Any) -> AsyncAwsConnectionPool:
    return AsyncAwsConnectionPool(
        psycopg.AsyncConnection.connect, dsn, plugins="dev", wrapper_dialect="pg", **opts
    )


@pytest.fixture
async def table(pg_dsn: str) -> str:
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as raw:
        await raw.execute("DROP TABLE IF EXISTS pool_items; CREATE TABLE pool_items (id int PRIMARY KEY)")
    return "pool_items"


def pg_flavoured(cls: type[Exception], message: str) -> Exception:
    """A failover error as the failover plugin raises it: also a psycopg.OperationalError."""
    flavour: type[Exception] = type(cls.__name__, (cls, psycopg.OperationalError), {})
    return flavour(message)


def arm(conn: AsyncAwsConnection, error: Exception) -> None:
    DeveloperPlugin.of(conn).simulator.raise_on_next_call(error, "Cursor.execute")


async def ids(dsn: str) -> list[int]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as raw:
        cur = await raw.execute("SELECT id FROM pool_items ORDER BY id")
        return [r[0] for r in await cur.fetchall()]


async def backend_pid(conn: AsyncAwsConnection) -> int:
    cur = await conn.execute("SELECT pg_backend_pid()")
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def terminate(dsn: str, pid: int) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as raw:
        await raw.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_min_size_reuse_and_stats(pg_dsn: str) -> None:
    threads = threading.active_count()
    async with make_pool(pg_dsn, min_size=2, max_size=4) as pool:
        assert (pool.size, pool.idle, pool.in_use) == (2, 2, 0)
        async with pool.connection() as conn:
            assert isinstance(conn, AsyncAwsConnection)
            assert pool.in_use == 1
            first = await backend_pid(conn)
        assert (pool.idle, pool.in_use) == (2, 0)
        async with pool.connection() as conn:
            assert await backend_pid(conn) == first  # the most recently returned comes back first
        stats = pool.get_stats()
        assert stats["requests"] == 2 and stats["connects"] == 2 and stats["discarded"] == 0
        assert threading.active_count() == threads  # no worker threads
    assert pool.closed and pool.size == 0
    assert conn.closed


async def test_commit_on_success_rollback_on_error(pg_dsn: str, table: str) -> None:
    async with make_pool(pg_dsn, max_size=1) as pool:
        async with pool.connection() as conn:
            await conn.execute("INSERT INTO pool_items VALUES (1)")
        with pytest.raises(ZeroDivisionError):
            async with pool.connection() as conn:
                await conn.execute("INSERT INTO pool_items VALUES (2)")
                raise ZeroDivisionError
        assert await ids(pg_dsn) == [1]
        with pytest.raises(psycopg.errors.UniqueViolation):
            async with pool.connection() as conn:
                await conn.execute("INSERT INTO pool_items VALUES (1)")
        async with pool.connection() as again:
            # an SQL error does not cost the connection
            assert again is conn and not again.get_transaction_status()
        # putconn (no block) rolls back
        conn = await pool.getconn()
        await conn.execute("INSERT INTO pool_items VALUES (3)")
        await pool.putconn(conn)
        assert await ids(pg_dsn) == [1]
        assert pool.get_stats()["discarded"] == 0


async def test_timeout_when_exhausted_and_handover_to_waiter(pg_dsn: str) -> None:
    async with make_pool(pg_dsn, max_size=1, timeout=5) as pool:
        held = await pool.getconn()
        start = time.monotonic()
        with pytest.raises(PoolTimeout):
            await pool.getconn(timeout=0.2)
        assert time.monotonic() - start < 2
        waiter = asyncio.create_task(pool.getconn())
        await until(lambda: pool.waiting == 1)
        await pool.putconn(held)
        got = await asyncio.wait_for(waiter, 5)
        assert got is held and pool.size == 1
        await pool.putconn(got)


async def test_closed_connection_is_discarded_on_checkout(pg_dsn: str) -> None:
    async with make_pool(pg_dsn, max_size=2) as pool:
        async with pool.connection() as conn:
            pid = await backend_pid(conn)
        await conn.target_connection.close()  # closed behind the pool's back
        async with pool.connection() as fresh:
            assert fresh is not conn and await backend_pid(fresh) != pid
        assert pool.size == 1 and pool.get_stats()["discarded"] == 1


async def test_ping_check_replaces_a_dead_idle_connection(pg_dsn: str) -> None:
    async with make_pool(pg_dsn, max_size=2, check=AsyncAwsConnectionPool.ping) as pool:
        async with pool.connection() as conn:
            pid = await backend_pid(conn)
        await terminate(pg_dsn, pid)  # the pool cannot know without a round trip
        async with pool.connection() as fresh:
            assert fresh is not conn and await backend_pid(fresh) != pid
        assert conn.closed and pool.size == 1


async def test_network_error_discards(pg_dsn: str) -> None:
    async with make_pool(pg_dsn, max_size=2) as pool:
        with pytest.raises(psycopg.OperationalError):
            async with pool.connection() as conn:
                await terminate(pg_dsn, await backend_pid(conn))
                await conn.execute("SELECT 1")
        assert pool.size == 0 and pool.get_stats()["discarded"] == 1
        await asyncio.sleep(0)  # let the owned closer finish
        assert conn.closed


async def test_failover_success_keeps_failover_failed_discards(pg_dsn: str) -> None:
    async with make_pool(pg_dsn, max_size=1) as pool:
        with pytest.raises(FailoverSuccessError):
            async with pool.connection() as conn:
                arm(conn, pg_flavoured(FailoverSuccessError, "failed over"))
                await conn.execute("SELECT 1")
        async with pool.connection() as again:
            assert again is conn
        with pytest.raises(TransactionResolutionUnknownError):
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")  # a transaction is open
                arm(conn, pg_flavoured(TransactionResolutionUnknownError, "failed over in a transaction"))
                await conn.execute("SELECT 1")
        async with pool.connection() as again:
            assert again is conn
        with pytest.raises(FailoverFailedError):
            async with pool.connection() as conn:
                arm(conn, pg_flavoured(FailoverFailedError, "gave up"))
                await conn.execute("SELECT 1")
        async with pool.connection() as again:
            assert again is not conn
        assert pool.get_stats()["failovers"] == 2


async def test_cancelled_user_discards_and_frees_the_slot(pg_dsn: str) -> None:
    async with make_pool(pg_dsn, max_size=1) as pool:
        started = asyncio.Event()
        box: list[AsyncAwsConnection] = []

        async def user() -> None:
            async with pool.connection() as conn:
                box.append(conn)
                started.set()
                await conn.execute("SELECT pg_sleep(30)")

        task = asyncio.create_task(user())
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with pool.connection(timeout=5) as conn:
            assert conn is not box[0]
            assert await backend_pid(conn) > 0
    assert box[0].closed


async def test_max_lifetime_retires_on_return(pg_dsn: str) -> None:
    async with make_pool(pg_dsn, max_size=1, max_lifetime=0.05) as pool:
        async with pool.connection() as first:
            await asyncio.sleep(0.1)
        async with pool.connection() as second:
            assert second is not first


async def test_configure_and_aclose_wakes_waiters(pg_dsn: str) -> None:
    configured: list[AsyncAwsConnection] = []

    async def configure(conn: AsyncAwsConnection) -> None:
        await conn.set_autocommit(True)
        configured.append(conn)

    pool = make_pool(pg_dsn, max_size=1, configure=configure)
    held = await pool.getconn()
    assert configured == [held] and held.autocommit
    waiter = asyncio.create_task(pool.getconn())
    await until(lambda: pool.waiting == 1)
    await pool.aclose()
    with pytest.raises(PoolClosed):
        await asyncio.wait_for(waiter, 5)
    await pool.putconn(held)  # returned after close: closed, not kept
    await asyncio.sleep(0)
    with pytest.raises(PoolClosed):
        await pool.getconn()
    await pool.aclose()
    assert held.closed


async def test_concurrent_load_never_exceeds_max_size(pg_dsn: str) -> None:
    peak = 0
    async with make_pool(pg_dsn, min_size=1, max_size=3) as pool:

        async def work(i: int) -> int:
            nonlocal peak
            async with pool.connection() as conn:
                peak = max(peak, pool.size)
                cur = await conn.execute("SELECT %s::int", (i,))
                row = await cur.fetchone()
                assert row is not None
                return int(row[0])

        results = await asyncio.gather(*(work(i) for i in range(50)))
        assert results == list(range(50))
        assert peak <= 3 and pool.size <= 3 and pool.in_use == 0


async def test_reset_runs_on_return_and_a_failing_reset_discards(pg_dsn: str) -> None:
    fail = False
    resets: list[AsyncAwsConnection] = []

    async def reset(conn: AsyncAwsConnection) -> None:
        resets.append(conn)
        assert not conn.get_transaction_status()  # the block's transaction ended before
        await conn.set_read_only(False)
        if fail:
            raise RuntimeError("cannot reset")

    async with make_pool(pg_dsn, max_size=1, reset=reset) as pool:
        async with pool.connection() as conn:
            await conn.set_read_only(True)
            cur = await conn.execute("SHOW transaction_read_only")
            assert await cur.fetchone() == ("on",)
        async with pool.connection() as again:
            assert again is conn
            cur = await again.execute("SHOW transaction_read_only")
            assert await cur.fetchone() == ("off",)
        fail = True
        held = await pool.getconn()
        await pool.putconn(held)  # putconn resets too; this reset fails: discarded
        assert resets == [conn, conn, conn] and pool.size == 0
        fail = False
        async with pool.connection() as fresh:
            assert fresh is not conn
        assert pool.get_stats()["discarded"] == 1
