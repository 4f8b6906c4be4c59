"""strict_writer: a write refused because the connection's server was demoted to a reader fails over
to the writer; read-only states the application chose never do."""

from __future__ import annotations

import pytest

from awsasyncwrap import FailoverError, FailoverSuccessError, TransactionResolutionUnknownError
from awsasyncwrap.plugins.failover import FailoverPlugin

from ._helpers import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

#: SQLSTATE / MySQL error numbers of "the server (or transaction) is read-only"
_READ_ONLY = {"25006", "1290", "1836", "1792"}


async def _demoted(c: Cluster) -> str:
    """Fail the writer over and bring it back as a replica; its instance id."""
    old = c.tb.writer
    await c.tb.failover()
    await c.tb.rejoin(old)
    return old.id


def _failover_plugin(conn: object) -> FailoverPlugin:
    plugins = conn.plugin_service.plugins  # type: ignore[attr-defined]
    return next(p for p in plugins if isinstance(p, FailoverPlugin))


async def test_write_on_demoted_writer_fails_over(cluster: Cluster) -> None:
    c = cluster
    old = await _demoted(c)
    conn = await c.connect(c.tb.instance(old))  # pinned to the old writer's instance endpoint
    try:
        assert _failover_plugin(conn).mode == "strict_writer"
        assert await c.is_reader(conn)
        with pytest.raises(FailoverSuccessError) as info:
            await c.insert(conn, 1)
        cause = info.value.__cause__
        assert cause is not None
        code = c.error_code(cause)
        assert code is not None and code in _READ_ONLY
        assert await c.host_id(conn) == c.tb.writer.id
        await c.insert(conn, 1)  # the retry writes on the writer
        assert _failover_plugin(conn).failover_count == 1
    finally:
        await conn.close()
    assert await c.ids() == {1}


async def test_write_on_demoted_writer_in_transaction(cluster: Cluster) -> None:
    c = cluster
    old = await _demoted(c)
    conn = await c.connect(c.tb.instance(old))
    try:
        old_driver_conn = conn.target_connection
        await c.begin(conn)
        with pytest.raises(TransactionResolutionUnknownError):
            await c.insert(conn, 2)
        assert old_driver_conn.closed  # the replaced connection was rolled back and closed
        assert await c.host_id(conn) == c.tb.writer.id
        await conn.rollback()
        await c.begin(conn)
        await c.insert(conn, 2)
        await conn.commit()
    finally:
        await conn.close()
    assert await c.ids() == {2}


async def test_read_only_chosen_on_the_writer_does_not_fail_over(cluster: Cluster) -> None:
    """The server is the writer: a failover would land on it again (and loop on every retry)."""
    c = cluster
    conn = await c.connect()
    try:
        driver_conn = conn.target_connection
        # read-only by SQL the wrapper does not see
        sql = "SET default_transaction_read_only = on" if c.pg else "SET SESSION TRANSACTION READ ONLY"
        await c.run(conn, sql)
        for _ in range(2):
            with pytest.raises(Exception) as info:
                await c.insert(conn, 3)
            assert not isinstance(info.value, FailoverError)
            assert c.error_code(info.value) in _READ_ONLY
        # and by the wrapper's own setting
        await c.run(
            conn, "SET default_transaction_read_only = off" if c.pg else "SET SESSION TRANSACTION READ WRITE"
        )
        await conn.set_read_only(True)
        await conn.set_autocommit(False)  # psycopg makes read-only only the transactions it begins
        with pytest.raises(Exception) as info:
            await c.insert(conn, 3)
        assert not isinstance(info.value, FailoverError)
        await conn.rollback()
        assert conn.target_connection is driver_conn
        assert _failover_plugin(conn).failover_count == 0
    finally:
        await conn.close()
    assert await c.ids() == set()


async def test_reader_chosen_by_read_write_splitting_does_not_fail_over(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect(plugins="read_write_splitting,failover")
    try:
        await conn.set_read_only(True)
        assert await c.is_reader(conn)
        reader = conn.target_connection
        with pytest.raises(Exception) as info:
            await c.insert(conn, 4)
        assert not isinstance(info.value, FailoverError)
        assert c.error_code(info.value) in _READ_ONLY
        assert conn.target_connection is reader
        await conn.set_read_only(False)
        await c.insert(conn, 4)
    finally:
        await conn.close()
    assert await c.ids() == {4}


async def test_reader_or_writer_mode_does_not_fail_over_on_read_only(cluster: Cluster) -> None:
    c = cluster
    old = await _demoted(c)
    conn = await c.connect(c.tb.instance(old), failover_mode="reader_or_writer")
    try:
        with pytest.raises(Exception) as info:
            await c.insert(conn, 5)
        assert not isinstance(info.value, FailoverError)
        assert c.error_code(info.value) in _READ_ONLY
    finally:
        await conn.close()
