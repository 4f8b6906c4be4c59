"""aiomysql's API through the proxy: each method keeps aiomysql's shape; network-bound ones reach the plugins.

One test per row of the aiomysql table in docs/core.md that is not trivially local.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from typing import Any

import aiomysql
import pymysql
import pytest
from pymysql.constants import CLIENT

from awsasyncwrap import AsyncAwsConnection, AsyncAwsMysqlCursor

from .helpers import RecordingPlugin, wait_for

pytestmark = pytest.mark.timeout(60)


async def connect(kwargs: dict[str, Any], plugins: str = "api_recorder", **props: Any) -> Any:
    return await AsyncAwsConnection.connect(aiomysql.connect, plugins=plugins, **kwargs, **props)


@pytest.fixture
async def mconn(mysql_kwargs: dict[str, Any]) -> Any:
    conn = await connect(mysql_kwargs)
    yield conn
    await conn.ensure_closed()


async def server_sees(kwargs: dict[str, Any], thread_id: int) -> bool:
    raw = await aiomysql.connect(**kwargs)
    try:
        async with raw.cursor() as cur:
            await cur.execute(
                "SELECT count(*) FROM information_schema.processlist WHERE id = %s", (thread_id,)
            )
            row = await cur.fetchone()
            return bool(row[0])
    finally:
        raw.close()


@pytest.mark.parametrize("plugins", ["", "api_recorder"])
async def test_close_is_synchronous_and_closes(mysql_kwargs: dict[str, Any], plugins: str) -> None:
    conn = await connect(mysql_kwargs, plugins)
    target = conn.target_connection
    thread_id = target.thread_id()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no coroutine left un-awaited
        assert conn.close() is not None  # a plain call, as with aiomysql
    assert conn.closed
    await wait_for(lambda: _closed(target))
    await wait_for(lambda: _not(server_sees(mysql_kwargs, thread_id)))
    if plugins:
        assert RecordingPlugin.of(conn).names()[-1:] == ["Connection.close"]
    await conn.close()  # awaiting it (or closing twice) still works


async def _closed(target: Any) -> bool:
    return bool(target.closed)


async def _not(check: Any) -> bool:
    return not await check


async def test_ensure_closed_runs_through_the_plugins(mysql_kwargs: dict[str, Any]) -> None:
    conn = await connect(mysql_kwargs)
    await conn.ensure_closed()
    assert conn.closed and conn.target_connection.closed
    assert RecordingPlugin.of(conn).names() == ["Connection.close"]


async def test_async_with_connect_block_like_aiomysql(mysql_kwargs: dict[str, Any]) -> None:
    opening = AsyncAwsConnection.connect(aiomysql.connect, plugins="api_recorder", **mysql_kwargs)
    async with opening as conn:
        cur = await conn.cursor()
        await cur.execute("SELECT 1")
        assert await cur.fetchone() == (1,)
    assert conn.closed
    assert RecordingPlugin.of(conn).names() == ["Cursor.execute", "Connection.close"]
    with pytest.raises(RuntimeError, match="boom"):
        async with AsyncAwsConnection.connect(aiomysql.connect, plugins="", **mysql_kwargs) as conn2:
            raise RuntimeError("boom")
    assert conn2.closed


async def test_connect_result_is_a_coroutine(mysql_kwargs: dict[str, Any]) -> None:
    task = asyncio.get_running_loop().create_task(
        AsyncAwsConnection.connect(aiomysql.connect, **mysql_kwargs)
    )
    conn = await task
    try:
        assert isinstance(conn, aiomysql.Connection)
    finally:
        await conn.ensure_closed()


async def test_nextset_and_callproc_run_through_the_plugins(mysql_kwargs: dict[str, Any], mconn: Any) -> None:
    async with mconn.cursor() as cur:
        assert isinstance(cur, AsyncAwsMysqlCursor)
        await cur.execute("CREATE OR REPLACE PROCEDURE api_two() BEGIN SELECT 1; SELECT 2; END")
        recorded = RecordingPlugin.of(mconn)
        recorded.calls.clear()
        await cur.callproc("api_two")
        assert await cur.fetchall() == ((1,),)
        assert await cur.nextset() is True  # aiomysql reads the next result from the server
        assert await cur.fetchall() == ((2,),)
    assert recorded.names()[:2] == ["Cursor.callproc", "Cursor.nextset"]


async def test_multi_statement_nextset(mysql_kwargs: dict[str, Any]) -> None:
    conn = await connect(mysql_kwargs, client_flag=CLIENT.MULTI_STATEMENTS)
    try:
        cur = await conn.cursor()
        await cur.execute("SELECT 1; SELECT 2")
        assert await cur.fetchone() == (1,)
        assert await cur.nextset()
        assert await cur.fetchone() == (2,)
        assert not await cur.nextset()
    finally:
        await conn.ensure_closed()


async def test_connection_methods_run_through_the_plugins(mysql_kwargs: dict[str, Any], mconn: Any) -> None:
    recorded = RecordingPlugin.of(mconn)
    recorded.calls.clear()
    await mconn.ping()
    await mconn.begin()
    await mconn.rollback()
    await mconn.select_db(mysql_kwargs.get("db") or "mysql")
    await mconn.set_charset("utf8mb4")
    assert mconn.charset == "utf8mb4"
    async with mconn.cursor() as cur:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # aiomysql turns the server's warning into a Python one
            await cur.execute("SELECT CAST('x' AS SIGNED)")  # a warning: truncated value
    warns = await mconn.show_warnings()
    assert warns and warns[0][1] == 1292
    assert recorded.names() == [
        "Connection.ping",
        "Connection.begin",
        "Connection.rollback",
        "Connection.select_db",
        "Connection.set_charset",
        "Cursor.execute",
        "Connection.show_warnings",
    ]


async def test_kill_runs_through_the_plugins(mysql_kwargs: dict[str, Any], mconn: Any) -> None:
    victim = await aiomysql.connect(**mysql_kwargs)
    try:
        await mconn.kill(victim.thread_id())
        assert RecordingPlugin.of(mconn).names()[-1] == "Connection.kill"
        with pytest.raises(pymysql.err.OperationalError):
            async with victim.cursor() as cur:
                await cur.execute("SELECT 1")
    finally:
        victim.close()


async def test_server_side_cursor_fetches_and_scroll(mconn: Any) -> None:
    recorded = RecordingPlugin.of(mconn)
    async with mconn.cursor(aiomysql.SSCursor) as cur:
        await cur.execute("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4")
        recorded.calls.clear()
        await cur.scroll(1)
        assert await cur.fetchone() == (2,)
        assert await cur.fetchmany(1) == [(3,)]
        assert await cur.fetchall() == [(4,)]
    assert recorded.names() == ["Cursor.scroll", "Cursor.fetchone", "Cursor.fetchmany", "Cursor.fetchall"]


async def test_isinstance_of_the_driver_connection(mconn: Any) -> None:
    assert isinstance(mconn, aiomysql.Connection)
    assert isinstance(mconn, AsyncAwsConnection)
    assert AsyncAwsConnection.of(mconn) is mconn
    with pytest.raises(TypeError, match=r"AsyncAwsConnection\.connect\(\)"):
        AsyncAwsConnection.of(mconn.target_connection)


async def test_close_cancelled_in_the_background_still_closes_the_socket(
    mysql_kwargs: dict[str, Any],
) -> None:
    conn = await connect(mysql_kwargs)
    target = conn.target_connection
    closing = conn.close()
    assert isinstance(closing, asyncio.Task)
    closing.cancel()  # e.g. asyncio.run() ending right after a plain conn.close()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert target.closed


async def test_a_wrapper_query_leaves_no_snapshot_on_a_connection_without_autocommit(
    mysql_kwargs: dict[str, Any],
) -> None:
    """The wrapper's own reads (dialect detection, instance id, topology) on a connection outside a
    transaction leave it so: the app's next read sees what is committed now, as with the raw driver."""
    table = f"snap_{os.getpid()}"
    other = await aiomysql.connect(**mysql_kwargs, autocommit=True)
    conn = await connect(mysql_kwargs, autocommit=False)
    try:
        async with other.cursor() as cur:
            await cur.execute(f"CREATE TABLE {table} (v INT) ENGINE=InnoDB")
            await cur.execute(f"INSERT INTO {table} VALUES (1)")
        driver = conn.plugin_service.driver_dialect
        raw = conn.target_connection
        assert await driver.query(raw, f"SELECT v FROM {table}") == [(1,)]  # InnoDB: a snapshot opens
        async with other.cursor() as cur:
            await cur.execute(f"UPDATE {table} SET v = 2")
        assert await driver.query(raw, f"SELECT v FROM {table}") == [(2,)]
        cur = await conn.cursor()
        await cur.execute(f"SELECT v FROM {table}")
        assert await cur.fetchone() == (2,)
        await conn.rollback()
    finally:
        await conn.ensure_closed()
        async with other.cursor() as cur:
            await cur.execute(f"DROP TABLE IF EXISTS {table}")
        other.close()


async def test_execute_and_executemany_take_aiomysql_s_argument_names(mconn: Any) -> None:
    """``execute(query, args=...)`` and ``executemany(query, args=...)``, as aiomysql spells them."""
    recorded = RecordingPlugin.of(mconn)
    async with mconn.cursor() as cur:
        await cur.execute("CREATE TEMPORARY TABLE kw_args (n int)")
        recorded.calls.clear()
        assert await cur.executemany("INSERT INTO kw_args VALUES (%s)", args=[(1,), (2,)]) == 2
        assert await cur.execute("SELECT n FROM kw_args WHERE n > %s ORDER BY n", args=(0,)) == 2
        assert await cur.fetchall() == ((1,), (2,))
        assert await cur.execute("SELECT %s", (3,)) == 1  # positional, as before
        assert await cur.fetchone() == (3,)
    assert [c for c in recorded.calls if c[0].startswith("Cursor.execute")] == [
        ("Cursor.executemany", ("INSERT INTO kw_args VALUES (%s)", [(1,), (2,)])),
        ("Cursor.execute", ("SELECT n FROM kw_args WHERE n > %s ORDER BY n", (0,))),
        ("Cursor.execute", ("SELECT %s", (3,))),
    ]


async def kill_session(kwargs: dict[str, Any], thread_id: int) -> None:
    """The server ends session ``thread_id`` (an admin's ``KILL CONNECTION``); returns once it is gone."""
    raw = await aiomysql.connect(**kwargs)
    try:
        async with raw.cursor() as cur:
            await cur.execute(f"KILL CONNECTION {thread_id}")
    finally:
        raw.close()
    await wait_for(lambda: _not(server_sees(kwargs, thread_id)))


async def test_ping_reconnects_as_aiomysql_s_does_without_failover(mysql_kwargs: dict[str, Any]) -> None:
    """``ping()`` reopens a connection the server ended (aiomysql's default ``reconnect=True``), to the same
    server; ``ping(False)`` raises the driver's error; a closed proxy is never reopened."""
    conn = await connect(mysql_kwargs, "")
    try:
        first = conn.thread_id()
        await kill_session(mysql_kwargs, first)
        await conn.ping()
        second = conn.thread_id()
        assert second != first
        async with conn.cursor() as cur:
            await cur.execute("SELECT 1")
            assert await cur.fetchone() == (1,)
        await kill_session(mysql_kwargs, second)
        with pytest.raises(pymysql.err.OperationalError):
            await conn.ping(False)
    finally:
        await conn.ensure_closed()
    with pytest.raises(pymysql.err.InterfaceError):
        await conn.ping()
    assert conn.closed
