"""Cancelling a task never starts a failover, and neither does a timeout the application set."""

from __future__ import annotations

import asyncio

import pytest

from ._helpers import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


def _failovers(conn: object) -> int:
    return conn.plugin_service.plugins[0].failover_count  # type: ignore[attr-defined,no-any-return]


async def test_cancelled_query_does_not_fail_over(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect()
    try:
        await c.insert(conn, 1)
        writer = await c.host_id(conn)
        task = asyncio.create_task(c.run(conn, c.sleep_sql(5)))
        await c.wait_running(writer, c.sleep_sql(5))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _failovers(conn) == 0
        assert conn.current_host is not None and conn.current_host.host_id in (None, writer)
        if c.pg:  # psycopg cancels on the server and keeps the connection usable
            assert await c.host_id(conn) == writer
            await c.insert(conn, 2)
    finally:
        await conn.close()
    assert await c.ids() == ({1, 2} if c.pg else {1})


async def test_application_timeout_does_not_fail_over(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect()
    try:
        await c.insert(conn, 1)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):  # type: ignore[attr-defined,unused-ignore]  # edge-triggered (3.11+)
                await c.run(conn, c.sleep_sql(5))
        assert _failovers(conn) == 0
    finally:
        await conn.close()
    assert await c.ids() == {1}


async def test_server_statement_timeout_does_not_fail_over(cluster: Cluster) -> None:
    """PostgreSQL statement_timeout (57014) and MariaDB max_statement_time (1969) are the app's own limits."""
    c = cluster
    conn = await c.connect()
    try:
        if c.pg:
            await c.run(conn, "SET statement_timeout = 100")
        else:
            await c.run(conn, "SET SESSION max_statement_time = 0.1")
        with pytest.raises(Exception) as info:
            await c.run(conn, c.sleep_sql(2))
        assert c.error_code(info.value) == ("57014" if c.pg else "1969"), repr(info.value)
        assert _failovers(conn) == 0
        await c.insert(conn, 1)  # the same connection goes on
        assert (await c.run(conn, "SELECT 1"))[0][0] == 1
    finally:
        await conn.close()
    assert await c.ids() == {1}
