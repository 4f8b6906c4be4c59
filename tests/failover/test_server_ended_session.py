"""A session the server ends on its own on a healthy writer (killed by an admin, or an idle timeout) is
a lost connection, the same on both engines: the wrapper reconnects to the writer and raises
FailoverSuccessError outside a transaction, TransactionResolutionUnknownError inside one
(docs/failover.md)."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import FailoverSuccessError, TransactionResolutionUnknownError

from ._helpers import Cluster, link_gone, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]


async def session_id(c: Cluster, conn: Any) -> int:
    sql = "SELECT pg_backend_pid()" if c.pg else "SELECT CONNECTION_ID()"
    return int((await c.run(conn, sql))[0][0])


async def wait_gone(c: Cluster, sid: int) -> None:
    """Bounded poll until the server no longer has session ``sid``."""
    check = (
        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
        if c.pg
        else "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s"
    )
    direct = await c.direct()
    try:

        async def gone() -> bool:
            return not (await c.run(direct, check, (sid,)))[0][0]

        await until(gone, timeout=15)
    finally:
        await direct.close() if c.pg else direct.close()


async def end_session(c: Cluster, conn: Any, how: str, in_tx: bool) -> None:
    sid = await session_id(c, conn)
    if how == "idle":
        if c.pg:
            setting = "idle_in_transaction_session_timeout" if in_tx else "idle_session_timeout"
            await c.run(conn, f"SET {setting} = 200")
        else:
            await c.run(conn, "SET SESSION wait_timeout = 1")
    if in_tx:
        await c.begin(conn)
        await c.insert(conn, 7)
    if how == "kill":
        kill = f"SELECT pg_terminate_backend({sid})" if c.pg else f"KILL CONNECTION {sid}"
        await c.query_writer(kill)
    await wait_gone(c, sid)


@pytest.mark.parametrize("in_tx", [False, True], ids=["idle", "in_tx"])
@pytest.mark.parametrize("how", ["kill", "idle"], ids=["killed", "timed_out"])
async def test_server_ended_session_is_a_lost_connection(cluster: Cluster, how: str, in_tx: bool) -> None:
    c = cluster
    conn = await c.connect()
    try:
        writer = await c.host_id(conn)
        await end_session(c, conn, how, in_tx)
        if not in_tx:  # the client side knows before the next call (through the proxy, a moment later)
            await link_gone(conn)
        expected = TransactionResolutionUnknownError if in_tx else FailoverSuccessError
        with pytest.raises(expected):
            await c.insert(conn, 1)
        # the same healthy writer, a working connection, the app's retry succeeds
        assert await c.host_id(conn) == writer
        if in_tx:
            await conn.rollback()
            await c.begin(conn)
        await c.insert(conn, 1)
        if in_tx:
            await conn.commit()
    finally:
        await conn.close()
    assert await c.ids() == {1}  # the ended session's uncommitted row is gone


@pytest.mark.parametrize("in_tx", [False, True], ids=["idle", "in_tx"])
@pytest.mark.parametrize("reconnect", [True, False], ids=["ping()", "ping(False)"])
async def test_ping_reopens_a_session_the_server_ended_as_aiomysql_s_does(
    mariadb_only: Cluster, reconnect: bool, in_tx: bool
) -> None:
    """aiomysql's ``ping()`` (reconnect=True) reopens a lost connection and returns: here through failover, so
    no FailoverSuccessError, but a lost transaction is still reported; ``ping(False)`` raises as any call."""
    c = mariadb_only
    conn: Any = await c.connect()
    try:
        writer = await c.host_id(conn)
        await end_session(c, conn, "kill", in_tx)
        if in_tx or not reconnect:
            expected = TransactionResolutionUnknownError if in_tx else FailoverSuccessError
            with pytest.raises(expected):
                await conn.ping(reconnect)
            if in_tx:
                await conn.rollback()
        else:
            await conn.ping()
        assert await c.host_id(conn) == writer  # reconnected to the same healthy writer, and it works
        await conn.ping()
        await c.insert(conn, 1)
    finally:
        await conn.close()
    assert await c.ids() == {1}
