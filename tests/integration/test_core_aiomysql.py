"""The proxies over aiomysql against a real MariaDB server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiomysql
import anyio
import pymysql
import pytest

from awsasyncwrap import AsyncAwsConnection, AsyncAwsMysqlConnection
from awsasyncwrap.plugins.dev import DeveloperPlugin
from awsasyncwrap.plugins.execute_time import ExecuteTimePlugin

from .helpers import mysql_query_running, wait_for

pytestmark = pytest.mark.timeout(60)


async def connect(kwargs: dict[str, Any], plugins: str = "", **props: Any) -> AsyncAwsConnection:
    return AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(aiomysql.connect, plugins=plugins, **kwargs, **props)
    )


@pytest.fixture
async def mconn(mysql_kwargs: dict[str, Any]) -> Any:
    conn = await connect(mysql_kwargs)
    yield conn
    await conn.close()


@pytest.fixture
async def table(mysql_kwargs: dict[str, Any]) -> Any:
    raw = await aiomysql.connect(**mysql_kwargs, autocommit=True)
    try:
        async with raw.cursor() as cur:
            await cur.execute(
                "CREATE OR REPLACE TABLE core_items (id int PRIMARY KEY, v varchar(10)) ENGINE=InnoDB"
            )
    finally:
        raw.close()
    yield "core_items"


async def count_rows(kwargs: dict[str, Any], table: str) -> int:
    raw = await aiomysql.connect(**kwargs, autocommit=True)
    try:
        async with raw.cursor() as cur:
            await cur.execute(f"SELECT count(*) FROM {table}")
            row = await cur.fetchone()
            return int(row[0])
    finally:
        raw.close()


async def test_aiomysql_style_cursor_and_results(mconn: AsyncAwsConnection) -> None:
    assert isinstance(mconn, AsyncAwsMysqlConnection)
    cur = await mconn.cursor()
    assert await cur.execute("SELECT 1, 'a' UNION ALL SELECT 2, 'b'") == 2
    assert [d[0] for d in cur.description] == ["1", "a"]
    assert await cur.fetchone() == (1, "a")
    assert await cur.fetchall() == ((2, "b"),)
    async with mconn.cursor(aiomysql.DictCursor) as dcur:
        await dcur.execute("SELECT %s AS x", (5,))
        assert await dcur.fetchone() == {"x": 5}
    await cur.execute("SELECT 1 UNION ALL SELECT 2")
    assert [row async for row in cur] == [(1,), (2,)]


async def test_commit_rollback_and_autocommit(mysql_kwargs: dict[str, Any], mconn: Any, table: str) -> None:
    cur = await mconn.cursor()
    await cur.execute(f"INSERT INTO {table} VALUES (1, 'a')")
    await mconn.rollback()
    assert await count_rows(mysql_kwargs, table) == 0
    await cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(1, "a"), (2, "b")])
    await mconn.commit()
    assert await count_rows(mysql_kwargs, table) == 2
    await mconn.autocommit(True)  # aiomysql's own spelling
    assert mconn.get_autocommit()
    await cur.execute(f"INSERT INTO {table} VALUES (3, 'c')")
    assert await count_rows(mysql_kwargs, table) == 3


async def test_read_only_and_isolation_reach_the_server(mconn: Any, table: str) -> None:
    await mconn.set_isolation_level("serializable")
    await mconn.set_read_only(True)
    cur = await mconn.cursor()
    await cur.execute("SELECT @@session.tx_read_only, @@session.tx_isolation")
    assert await cur.fetchone() == (1, "SERIALIZABLE")
    with pytest.raises(pymysql.err.OperationalError) as info:  # 1792: write in a read-only transaction
        await cur.execute(f"INSERT INTO {table} VALUES (9, 'x')")
    assert info.value.args[0] == 1792
    await mconn.rollback()


async def test_driver_errors_pass_through(mconn: Any) -> None:
    cur = await mconn.cursor()
    with pytest.raises(pymysql.err.ProgrammingError) as info:
        await cur.execute("SELECT * FROM no_such_table")
    assert info.value.args[0] == 1146


async def test_dialect_is_mariadb(mconn: Any) -> None:
    assert mconn.plugin_service.database_dialect.code == "mariadb"
    assert "MariaDB" in mconn.get_server_info()


async def test_plugins_see_calls(mysql_kwargs: dict[str, Any]) -> None:
    ExecuteTimePlugin.reset()
    conn = await connect(mysql_kwargs, plugins="execute_time,dev")
    try:
        cur = await conn.cursor()
        await cur.execute("SELECT 1")
        await conn.commit()
        assert ExecuteTimePlugin.call_count() == 2
        DeveloperPlugin.of(conn).simulator.raise_on_next_call(pymysql.err.OperationalError(2013, "lost"))
        with pytest.raises(pymysql.err.OperationalError):
            await cur.execute("SELECT 1")
    finally:
        await conn.close()


async def test_abort_unblocks_a_stuck_call(mysql_kwargs: dict[str, Any], mconn: Any) -> None:
    cur = await mconn.cursor()
    task = asyncio.ensure_future(cur.execute("SELECT SLEEP(30) /* abort-me */"))
    await wait_for(lambda: mysql_query_running(mysql_kwargs, "abort-me"))
    start = time.monotonic()
    mconn.plugin_service.driver_dialect.abort(mconn.target_connection)
    with pytest.raises(pymysql.err.OperationalError):
        with anyio.fail_after(5):
            await task
    assert time.monotonic() - start < 1.0


async def test_connect_cut_short_by_cancellation_closes_its_socket() -> None:
    """aiomysql closes a half-open connection only on Exception; the wrapper also does on cancellation."""
    peer_closed = asyncio.Event()

    async def silent_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets; returns at EOF, when the client closed its socket
        peer_closed.set()
        writer.close()

    server = await asyncio.start_server(silent_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimeoutError) as info:
            with anyio.fail_after(0.3):
                await connect({"host": "127.0.0.1", "port": port, "user": "u", "db": "d"})
        # the traceback keeps the half-open connection object alive: only an explicit close ends it now
        assert info.traceback
        with anyio.fail_after(5):
            await peer_closed.wait()
    finally:
        server.close()
        await server.wait_closed()


async def test_closing_an_aborted_connection_does_not_write_to_its_dead_socket(
    mysql_kwargs: dict[str, Any],
) -> None:
    conn = await connect(mysql_kwargs)
    driver = conn.plugin_service.driver_dialect
    raw = conn.target_connection
    transport = raw._writer.transport
    written: list[bytes] = []
    transport.write = written.append  # what close() would send (a COM_QUIT) lands here
    driver.abort(raw)
    await driver.close(raw)
    assert raw.closed and transport.is_closing()
    assert written == []  # a write would only meet the shut-down socket (BrokenPipeError)
    await conn.close()
