"""The proxies over psycopg AsyncConnection against a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import anyio
import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from awsasyncwrap import AsyncAwsConnection, AsyncAwsCursor
from awsasyncwrap.plugins.connect_time import ConnectTimePlugin
from awsasyncwrap.plugins.dev import DeveloperPlugin, ExceptionSimulator
from awsasyncwrap.plugins.execute_time import ExecuteTimePlugin

from .helpers import pg_query_running, wait_for

pytestmark = pytest.mark.timeout(60)


async def connect(dsn: str, plugins: str = "", **props: Any) -> AsyncAwsConnection:
    return AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, dsn, plugins=plugins, **props)
    )


@pytest.fixture
async def aconn(pg_dsn: str) -> Any:
    conn = await connect(pg_dsn)
    yield conn
    await conn.close()


@pytest.fixture
async def table(pg_dsn: str) -> Any:
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as raw:
        await raw.execute(
            "DROP TABLE IF EXISTS core_items; CREATE TABLE core_items (id int PRIMARY KEY, v text)"
        )
    yield "core_items"


async def count_rows(dsn: str, table: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as raw:
        cur = await raw.execute(f"SELECT count(*) FROM {table}")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_execute_fetch_and_iterate(aconn: AsyncAwsConnection) -> None:
    async with aconn.cursor() as cur:
        assert isinstance(cur, AsyncAwsCursor)
        assert await cur.execute("SELECT g, g * 2 FROM generate_series(1, 5) g WHERE g > %s", (0,)) is cur
        assert cur.rowcount == 5
        assert [d.name for d in cur.description] == ["g", "?column?"]
        assert await cur.fetchone() == (1, 2)
        assert await cur.fetchmany(2) == [(2, 4), (3, 6)]
        assert await cur.fetchall() == [(4, 8), (5, 10)]
        await cur.execute("SELECT generate_series(1, 3)")
        assert [row async for row in cur] == [(1,), (2,), (3,)]
    assert cur.closed


async def test_connection_execute_and_row_factory(aconn: AsyncAwsConnection) -> None:
    cur = await aconn.execute("SELECT 1 AS one")
    assert await cur.fetchone() == (1,)
    async with aconn.cursor(row_factory=dict_row) as dcur:
        await dcur.execute("SELECT 2 AS two")
        assert await dcur.fetchone() == {"two": 2}


async def test_commit_and_rollback(pg_dsn: str, aconn: AsyncAwsConnection, table: str) -> None:
    cur = aconn.cursor()
    await cur.execute(f"INSERT INTO {table} VALUES (1, 'a')")
    assert aconn.get_transaction_status()
    await aconn.rollback()
    assert await count_rows(pg_dsn, table) == 0
    await cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(1, "a"), (2, "b")])
    await aconn.commit()
    assert await count_rows(pg_dsn, table) == 2


async def test_transaction_block(pg_dsn: str, aconn: AsyncAwsConnection, table: str) -> None:
    async with aconn.transaction():
        await aconn.execute(f"INSERT INTO {table} VALUES (1, 'a')")
    with pytest.raises(ZeroDivisionError):
        async with aconn.transaction():
            await aconn.execute(f"INSERT INTO {table} VALUES (2, 'b')")
            raise ZeroDivisionError
    assert await count_rows(pg_dsn, table) == 1


async def test_async_with_connection_commits_or_rolls_back(pg_dsn: str, table: str) -> None:
    async with await connect(pg_dsn) as conn:
        await conn.execute(f"INSERT INTO {table} VALUES (1, 'a')")
    assert conn.closed
    assert await count_rows(pg_dsn, table) == 1
    with pytest.raises(RuntimeError):
        async with await connect(pg_dsn) as conn:
            await conn.execute(f"INSERT INTO {table} VALUES (2, 'b')")
            raise RuntimeError("app error")
    assert await count_rows(pg_dsn, table) == 1


async def test_session_settings_reach_the_server(aconn: AsyncAwsConnection) -> None:
    await aconn.set_read_only(True)
    await aconn.set_isolation_level(psycopg.IsolationLevel.SERIALIZABLE)
    cur = await aconn.execute("SHOW transaction_read_only")
    assert await cur.fetchone() == ("on",)
    cur = await aconn.execute("SHOW transaction_isolation")
    assert await cur.fetchone() == ("serializable",)
    await aconn.rollback()
    await aconn.set_autocommit(True)
    assert aconn.autocommit and aconn.read_only is True
    state = aconn.plugin_service.session_state
    assert (state.autocommit, state.read_only, state.isolation_level) == (
        True,
        True,
        psycopg.IsolationLevel.SERIALIZABLE,
    )


async def test_driver_errors_pass_through_unchanged(aconn: AsyncAwsConnection) -> None:
    with pytest.raises(pg_errors.UndefinedTable) as info:
        await aconn.execute("SELECT * FROM no_such_table")
    assert info.value.sqlstate == "42P01"
    await aconn.rollback()
    assert await (await aconn.execute("SELECT 1")).fetchone() == (1,)


async def test_local_attributes_pass_through(aconn: AsyncAwsConnection) -> None:
    assert aconn.info.server_version >= 150000
    assert aconn.pgconn.status == psycopg.pq.ConnStatus.OK
    assert aconn.plugin_service.database_dialect.code == "aurora-pg"  # the testbed emulates Aurora


async def test_server_side_cursor_fetches_run_through_wildcard_plugins(pg_dsn: str) -> None:
    ExecuteTimePlugin.reset()
    conn = await connect(pg_dsn, plugins="execute_time")
    try:
        async with conn.transaction(), conn.cursor(name="server_side") as cur:
            await cur.execute("SELECT generate_series(1, 3)")
            calls_after_execute = ExecuteTimePlugin.call_count()
            assert await cur.fetchall() == [(1,), (2,), (3,)]
        assert ExecuteTimePlugin.call_count() > calls_after_execute
    finally:
        await conn.close()


async def test_execute_time_and_connect_time_measure(pg_dsn: str) -> None:
    ExecuteTimePlugin.reset()
    ConnectTimePlugin.reset()
    conn = await connect(pg_dsn, plugins="execute_time,connect_time")
    try:
        await conn.execute("SELECT pg_sleep(0.05)")
        assert ExecuteTimePlugin.call_count() == 1
        assert ExecuteTimePlugin.total_seconds() >= 0.05
        assert ConnectTimePlugin.connect_count() == 1 and ConnectTimePlugin.total_seconds() > 0
    finally:
        await conn.close()


async def test_dev_plugin_injects_errors(pg_dsn: str) -> None:
    conn = await connect(pg_dsn, plugins="dev")
    try:
        DeveloperPlugin.of(conn).simulator.raise_on_next_call(
            psycopg.OperationalError("boom"), "Cursor.execute"
        )
        with pytest.raises(psycopg.OperationalError, match="boom"):
            await conn.execute("SELECT 1")
        assert await (await conn.execute("SELECT 1")).fetchone() == (1,)  # fires once
    finally:
        await conn.close()
    ExceptionSimulator.raise_on_next_connect(psycopg.OperationalError("no route"))
    try:
        with pytest.raises(psycopg.OperationalError, match="no route"):
            await connect(pg_dsn, plugins="dev")
    finally:
        ExceptionSimulator.clear()


async def test_abort_unblocks_a_stuck_call_at_once(pg_dsn: str, aconn: AsyncAwsConnection) -> None:
    driver = aconn.plugin_service.driver_dialect
    task = asyncio.ensure_future(aconn.execute("SELECT pg_sleep(30) /* abort-me */"))
    await wait_for(lambda: pg_query_running(pg_dsn, "abort-me"))
    start = time.monotonic()
    driver.abort(aconn.target_connection)
    with pytest.raises(psycopg.OperationalError):
        with anyio.fail_after(5):
            await task
    assert time.monotonic() - start < 1.0
    assert aconn.closed


async def test_cancelling_a_query_propagates_cancellation(pg_dsn: str, aconn: AsyncAwsConnection) -> None:
    task = asyncio.ensure_future(aconn.execute("SELECT pg_sleep(30) /* cancel-me */"))
    await wait_for(lambda: pg_query_running(pg_dsn, "cancel-me"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        with anyio.fail_after(10):
            await task
    await aconn.rollback()
    assert await (await aconn.execute("SELECT 1")).fetchone() == (1,)


async def test_password_never_logged(pg_dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    conn = await connect(pg_dsn + " password=Very-Secret-1", plugins="execute_time,connect_time")
    await conn.execute("SELECT 1")
    assert "Very-Secret-1" not in repr(conn)
    await conn.close()
    assert "Very-Secret-1" not in caplog.text
