"""What a cancelled or timed-out call leaves behind, per driver, as docs/failover.md says: psycopg keeps the
connection open and usable on its host; aiomysql closes it and the next call gets aiomysql's own error."""

from __future__ import annotations

import asyncio

import pymysql
import pytest

from awsasyncwrap import AwsWrapperError

from ._helpers import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_cancelled_call_leaves_the_connection_as_documented(cluster: Cluster, how: str) -> None:
    c = cluster
    conn = await c.connect()
    try:
        writer = await c.host_id(conn)
        if how == "timeout":
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):  # type: ignore[attr-defined,unused-ignore]  # edge-triggered (3.11+)
                    await c.run(conn, c.sleep_sql(5))
        else:
            task = asyncio.create_task(c.run(conn, c.sleep_sql(5)))
            await c.wait_running(writer, c.sleep_sql(5))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert conn.plugin_service.plugins[0].failover_count == 0  # type: ignore[attr-defined]
        if c.pg:
            assert not conn.closed
            assert await c.host_id(conn) == writer
        else:
            assert conn.closed
            with pytest.raises(pymysql.err.InterfaceError) as info:
                await c.run(conn, "SELECT 1")
            assert not isinstance(info.value, AwsWrapperError)
            assert conn.plugin_service.plugins[0].failover_count == 0  # type: ignore[attr-defined]
    finally:
        await conn.close()
