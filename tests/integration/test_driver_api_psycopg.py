"""psycopg's API through the proxy: each method keeps psycopg's shape; network-bound ones reach the plugins.

One test per row of the psycopg table in docs/core.md that is not trivially local.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types import TypeInfo
from psycopg.types.enum import EnumInfo, register_enum

from awsasyncwrap import AsyncAwsConnection

from .helpers import RecordingPlugin

pytestmark = pytest.mark.timeout(60)


async def connect(dsn: str, plugins: str = "api_recorder", **props: Any) -> Any:
    return await AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, dsn, plugins=plugins, **props)


@pytest.fixture
async def aconn(pg_dsn: str) -> Any:
    conn = await connect(pg_dsn)
    yield conn
    await conn.close()


async def test_nextset_is_synchronous_and_local(aconn: Any) -> None:
    cur = aconn.cursor()
    await cur.executemany("SELECT %s::int", [(1,), (2,)], returning=True)
    assert await cur.fetchone() == (1,)
    recorded = RecordingPlugin.of(aconn)
    before = list(recorded.calls)
    assert cur.nextset() is True  # no await: psycopg's nextset() is a plain method
    assert await cur.fetchone() == (2,)
    assert cur.nextset() is None
    assert recorded.calls == before  # local: the results are all here already


async def test_results_and_set_result_are_local_and_yield_the_proxy(aconn: Any) -> None:
    cur = aconn.cursor()
    await cur.executemany("SELECT %s::int", [(1,), (2,), (3,)], returning=True)
    seen = [(c is cur, await c.fetchone()) async for c in cur.results()]
    assert seen == [(True, (1,)), (True, (2,)), (True, (3,))]
    assert await cur.set_result(1) is cur
    assert await cur.fetchone() == (2,)


async def test_copy_runs_through_the_plugins_with_psycopg_copy_object(pg_dsn: str, aconn: Any) -> None:
    await aconn.set_autocommit(True)
    await aconn.execute("CREATE TABLE IF NOT EXISTS api_copy (id int, v text)")
    await aconn.execute("TRUNCATE api_copy")
    recorded = RecordingPlugin.of(aconn)
    recorded.calls.clear()
    async with aconn.cursor() as cur:
        async with cur.copy("COPY api_copy (id, v) FROM STDIN") as copy:
            assert isinstance(copy, psycopg.AsyncCopy)
            await copy.write_row((1, "a"))
            await copy.write_row((2, "b"))
        assert cur.rowcount == 2
        async with cur.copy("COPY (SELECT id, v FROM api_copy ORDER BY id) TO STDOUT") as copy:
            rows = [row async for row in copy.rows()]
    assert rows == [("1", "a"), ("2", "b")]
    assert recorded.calls[0] == ("Cursor.copy", ("COPY api_copy (id, v) FROM STDIN", None))
    assert recorded.calls[1] == ("Cursor.copy", ())  # the end of the COPY, with no arguments
    assert recorded.names() == ["Cursor.copy"] * 4


async def test_stream_runs_every_step_through_the_plugins(aconn: Any) -> None:
    recorded = RecordingPlugin.of(aconn)
    cur = aconn.cursor()
    recorded.calls.clear()
    rows = [row async for row in cur.stream("SELECT generate_series(1, 3)")]
    assert rows == [(1,), (2,), (3,)]
    assert recorded.names() == ["Cursor.stream"] * 4  # three rows and the end
    assert recorded.calls[0] == ("Cursor.stream", ("SELECT generate_series(1, 3)", None))
    assert all(args == () for _, args in recorded.calls[1:])


async def test_stream_left_early_closes_the_driver_stream(aconn: Any) -> None:
    cur = aconn.cursor()
    async for row in cur.stream("SELECT generate_series(1, 1000)"):
        assert row == (1,)
        break
    else:
        pytest.fail("no row")
    # the connection is usable again: psycopg finished the stream when it was closed
    assert await (await aconn.execute("SELECT 42")).fetchone() == (42,)


async def test_notifies_run_through_the_plugins(pg_dsn: str, aconn: Any) -> None:
    await aconn.set_autocommit(True)
    await aconn.execute("LISTEN api_channel")
    recorded = RecordingPlugin.of(aconn)
    recorded.calls.clear()
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as other:
        await other.execute("NOTIFY api_channel, 'hello'")
    got = [n async for n in aconn.notifies(timeout=10, stop_after=1)]
    assert [(type(n), n.channel, n.payload) for n in got] == [(psycopg.Notify, "api_channel", "hello")]
    assert set(recorded.names()) == {"Connection.notifies"}


async def test_notifies_timeout_ends_the_iteration(aconn: Any) -> None:
    await aconn.set_autocommit(True)
    assert [n async for n in aconn.notifies(timeout=0.05)] == []


async def test_pipeline_block_runs_through_the_plugins(aconn: Any) -> None:
    recorded = RecordingPlugin.of(aconn)
    recorded.calls.clear()
    async with aconn.pipeline() as pipeline:
        assert isinstance(pipeline, psycopg.AsyncPipeline)
        cur1 = await aconn.execute("SELECT 1")
        cur2 = await aconn.execute("SELECT 2")
    assert await cur1.fetchone() == (1,)
    assert await cur2.fetchone() == (2,)
    assert recorded.names() == [
        "Connection.pipeline",
        "Cursor.execute",
        "Cursor.execute",
        "Connection.pipeline",
    ]


async def test_transaction_block_runs_through_the_plugins(aconn: Any) -> None:
    recorded = RecordingPlugin.of(aconn)
    recorded.calls.clear()
    async with aconn.transaction() as tx:
        assert isinstance(tx, psycopg.AsyncTransaction)
        await aconn.execute("SELECT 1")
    assert recorded.names() == ["Connection.transaction", "Cursor.execute", "Connection.transaction"]


async def test_two_phase_commit_methods_run_through_the_plugins(aconn: Any) -> None:
    recorded = RecordingPlugin.of(aconn)
    recorded.calls.clear()
    xid = aconn.xid(1, "api-gtrid", "api-bqual")
    await aconn.tpc_begin(xid)
    await aconn.execute("SELECT 1")
    await aconn.tpc_rollback()  # one-phase rollback: no prepared transaction needed
    assert isinstance(await aconn.tpc_recover(), list)
    assert recorded.names() == [
        "Connection.tpc_begin",
        "Cursor.execute",
        "Connection.tpc_rollback",
        "Connection.tpc_recover",
    ]


async def test_set_deferrable_runs_through_the_plugins(aconn: Any) -> None:
    await aconn.set_deferrable(True)
    assert aconn.deferrable is True
    assert "Connection.set_deferrable" in RecordingPlugin.of(aconn).names()


async def test_server_side_cursor_scroll_and_close(aconn: Any) -> None:
    recorded = RecordingPlugin.of(aconn)
    async with aconn.transaction():
        cur = aconn.cursor("api_ss", scrollable=True)
        await cur.execute("SELECT generate_series(1, 5)")
        recorded.calls.clear()
        await cur.scroll(2)
        assert await cur.fetchone() == (3,)
        await cur.close()
        assert cur.closed
    assert recorded.names()[:2] == ["Cursor.scroll", "Cursor.fetchone"]


async def test_async_with_connect_block(pg_dsn: str) -> None:
    async with AsyncAwsConnection.connect(psycopg.AsyncConnection.connect, pg_dsn, plugins="") as conn:
        assert await (await conn.execute("SELECT 1")).fetchone() == (1,)
    assert conn.closed


async def test_isinstance_and_psycopg_type_registration(pg_dsn: str, aconn: Any) -> None:
    assert isinstance(aconn, psycopg.AsyncConnection)
    assert isinstance(aconn, AsyncAwsConnection)
    await aconn.set_autocommit(True)
    await aconn.execute("DROP TYPE IF EXISTS api_mood")
    await aconn.execute("CREATE TYPE api_mood AS ENUM ('sad', 'happy')")
    info = await TypeInfo.fetch(aconn, "int4")
    assert info is not None and info.oid == 23
    enum_info = await EnumInfo.fetch(aconn, "api_mood")
    assert enum_info is not None
    register_enum(enum_info, aconn)
    row = await (await aconn.execute("SELECT 'happy'::api_mood")).fetchone()
    assert row[0].name == "happy"


async def test_psycopg_cursor_classes_take_the_wrapped_connection(aconn: Any) -> None:
    async with psycopg.AsyncClientCursor(aconn) as cur:
        await cur.execute("SELECT %s::int", [7])
        assert await cur.fetchone() == (7,)
    # the way that keeps the plugins in the path: the connection's cursor_factory
    aconn.target_connection.cursor_factory = psycopg.AsyncClientCursor
    recorded = RecordingPlugin.of(aconn)
    recorded.calls.clear()
    cur = aconn.cursor()
    assert isinstance(cur.target_cursor, psycopg.AsyncClientCursor)
    await cur.execute("SELECT %s::int", [8])
    assert await cur.fetchone() == (8,)
    assert recorded.names() == ["Cursor.execute"]


async def test_row_factory_cursor(aconn: Any) -> None:
    cur = aconn.cursor(row_factory=dict_row)
    await cur.execute("SELECT 1 AS a")
    assert await cur.fetchone() == {"a": 1}
