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
        writer = await c.host_id(conn)
        sleep = "SELECT pg_sleep(5)" if c.pg else "SELECT SLEEP(5)"
        task = asyncio.create_task(c.run(conn, sleep))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _failovers(conn) == 0
        assert conn.current_host is not None and conn.current_host.host_id in (None, writer)
        if c.pg:  # psycopg cancels on the server and keeps the connection usable
            assert await c.host_id(conn) == writer
    finally:
        await conn.close()


async def test_application_timeout_does_not_fail_over(cluster: Cluster) -> None:
    c = cluster
    conn = await c.connect()
    try:
        sleep = "SELECT pg_sleep(5)" if c.pg else "SELECT SLEEP(5)"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await c.run(conn, sleep)
        assert _failovers(conn) == 0
    finally:
        await conn.close()


async def test_statement_timeout_does_not_fail_over(cluster: Cluster) -> None:
    c = cluster
    if not c.pg:
        pytest.skip("statement_timeout is PostgreSQL's")
    import psycopg

    conn = await c.connect()
    try:
        await c.run(conn, "SET statement_timeout = 100")
        with pytest.raises(psycopg.errors.QueryCanceled):
            await c.run(conn, "SELECT pg_sleep(2)")
        assert _failovers(conn) == 0
        assert (await c.run(conn, "SELECT 1"))[0][0] == 1
    finally:
        await conn.close()
