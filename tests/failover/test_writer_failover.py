"""Writer failure: the same connection object ends up on the new writer; nothing committed is lost."""

from __future__ import annotations

import asyncio

import pytest

from awsasyncwrap import (
    ConnectionReplacedError,
    FailoverError,
    FailoverSuccessError,
    TransactionResolutionUnknownError,
)

from ._helpers import Cluster, link_gone, topology_monitors, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


def _driver_operational_error(c: Cluster) -> type[Exception]:
    if c.pg:
        import psycopg

        return psycopg.OperationalError
    import pymysql

    return pymysql.err.OperationalError  # type: ignore[no-any-return]


async def test_cursor_call_fails_over_to_new_writer(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect()
    try:
        for i in range(5):
            await c.insert(conn, i)
        old_cursor = conn.cursor()
        report = await c.tb.failover()
        with pytest.raises(FailoverSuccessError) as info:
            await c.insert(conn, 100)
        err = info.value
        assert isinstance(err, _driver_operational_error(c))
        assert isinstance(err, FailoverError)
        assert err.__cause__ is not None and not isinstance(err.__cause__, FailoverError)
        assert conn.current_host is not None and conn.current_host.host_id == report.new_writer
        assert await c.host_id(conn) == report.new_writer
        assert not await c.is_reader(conn)
        await c.insert(conn, 100)  # the retry works
        with pytest.raises(ConnectionReplacedError):
            await old_cursor.execute("SELECT 1")
    finally:
        await conn.close()
    assert await c.ids() == {0, 1, 2, 3, 4, 100}


async def test_connection_call_fails_over_to_new_writer(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect()
    try:
        await c.insert(conn, 1)
        report = await c.tb.failover()
        with pytest.raises(FailoverSuccessError):
            await c.begin(conn)  # BEGIN is a connection-level call; no transaction was open yet
        assert await c.host_id(conn) == report.new_writer
    finally:
        await conn.close()
    assert await c.ids() == {1}


async def test_reader_connection_fails_over_to_writer(cluster: Cluster) -> None:
    c = cluster
    reader = c.tb.readers[0]
    conn = await c.connect(reader, failover_mode="strict_writer")
    try:
        assert await c.is_reader(conn)
        await c.tb.kill(reader)
        await link_gone(conn)
        with pytest.raises(FailoverSuccessError):
            await c.run(conn, "SELECT 1")
        assert await c.host_id(conn) == c.tb.writer.id
        await c.insert(conn, 7)
    finally:
        await conn.close()
    assert await c.ids() == {7}


async def test_failure_inside_transaction(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect()
    try:
        await c.insert(conn, 1)  # autocommit: committed
        await c.begin(conn)
        await c.insert(conn, 2)
        await c.tb.failover()
        with pytest.raises(TransactionResolutionUnknownError) as info:
            await c.insert(conn, 3)
        assert isinstance(info.value, _driver_operational_error(c))
        await conn.rollback()
        await c.insert(conn, 4)
        await conn.commit()
    finally:
        await conn.close()
    assert await c.ids() == {1, 4}  # nothing of the interrupted transaction


async def test_commit_failure_is_resolution_unknown(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect()
    try:
        await c.begin(conn)
        await c.insert(conn, 5)
        await c.tb.failover()
        with pytest.raises(TransactionResolutionUnknownError):
            await conn.commit()
    finally:
        await conn.close()
    assert await c.ids() == set()


async def test_idle_connections_fail_over(cluster: Cluster) -> None:
    c = cluster
    conns = [await c.connect() for _ in range(5)]
    try:
        for i, conn in enumerate(conns):
            await c.insert(conn, i)
        report = await c.tb.failover()  # the connections sit idle while the cluster changes
        for i, conn in enumerate(conns):
            with pytest.raises(FailoverSuccessError):
                await c.insert(conn, 10 + i)
            await c.insert(conn, 10 + i)
            assert await c.host_id(conn) == report.new_writer
        assert len(topology_monitors()) == 1
    finally:
        for conn in conns:
            await conn.close()
    assert await c.ids() == set(range(5)) | set(range(10, 15))


async def test_same_writer_comes_back(cluster: Cluster) -> None:
    c = cluster
    writer = c.tb.writer
    conn = await c.connect(failover_timeout_sec=30)
    try:
        await c.insert(conn, 1)
        await c.tb.kill(writer)
        await link_gone(conn)
        call = asyncio.ensure_future(c.insert(conn, 2))
        # the failover is looking for a writer
        await until(lambda: call.done() or any(m.high_rate for m in topology_monitors()))
        await c.tb.start_instance(writer)  # the writer restarts; no reader was promoted
        with pytest.raises(FailoverSuccessError):
            await call
        assert await c.host_id(conn) == writer.id
        await c.insert(conn, 2)
    finally:
        await conn.close()
    assert await c.ids() == {1, 2}


async def test_several_failovers_in_a_row(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect()
    expected: set[int] = set()
    try:
        for round_ in range(3):
            await c.insert(conn, round_ * 10)
            expected.add(round_ * 10)
            report = await c.tb.failover()
            with pytest.raises(FailoverSuccessError):
                await c.insert(conn, round_ * 10 + 1)
            await c.insert(conn, round_ * 10 + 1)
            expected.add(round_ * 10 + 1)
            assert await c.host_id(conn) == report.new_writer
            await c.tb.rejoin(report.old_writer)
        assert conn.plugin_service.plugins[0].failover_count == 3  # type: ignore[attr-defined]
    finally:
        await conn.close()
    assert await c.ids() == expected


async def test_session_state_carried_over(cluster: Cluster) -> None:
    """Autocommit, isolation level, read-only and (MariaDB) the current database move with the connection."""
    c = cluster
    conn = await c.connect()
    try:
        await c.insert(conn, 1)
        await conn.set_isolation_level(
            __import__("psycopg").IsolationLevel.SERIALIZABLE if c.pg else "SERIALIZABLE"
        )
        await conn.set_autocommit(False)
        await conn.set_read_only(True)
        if not c.pg:
            await conn.select_db("aurora_emul")  # the test user may read it
        report = await c.tb.failover()
        with pytest.raises(FailoverSuccessError):
            await c.run(conn, "SELECT 1")
        assert await c.host_id(conn) == report.new_writer
        assert (conn.autocommit if c.pg else conn.get_autocommit()) is False
        await conn.rollback()
        if c.pg:
            isolation = await c.run(conn, "SHOW transaction_isolation")
            read_only = await c.run(conn, "SHOW transaction_read_only")
            assert read_only[0][0] == "on"
        else:
            isolation = await c.run(conn, "SELECT @@session.tx_isolation")
            read_only = await c.run(conn, "SELECT @@session.tx_read_only, DATABASE()")
            assert tuple(read_only[0]) == (1, "aurora_emul")
        assert str(isolation[0][0]).lower().replace("-", " ") == "serializable"
        await conn.rollback()
        await conn.set_read_only(False)
        await conn.set_autocommit(True)
        if not c.pg:
            await conn.select_db(c.tb.database)
        await c.insert(conn, 2)  # and the connection writes again once the app allows it
    finally:
        await conn.close()
    assert await c.ids() == {1, 2}
