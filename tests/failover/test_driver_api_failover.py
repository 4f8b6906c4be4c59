"""psycopg's stream(), copy() and notifies() run through the plugins: a writer crash under them fails over."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import psycopg
import pytest

from awsasyncwrap import FailoverSuccessError

from ._helpers import Cluster, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


async def test_stream_fails_over(pg_only: Cluster) -> None:
    c = pg_only
    conn = await c.connect()
    try:
        await c.insert(conn, 1)
        report = await c.tb.failover()
        with pytest.raises(FailoverSuccessError) as info:
            _ = [row async for row in conn.cursor().stream(f"SELECT id FROM {c.table}")]
        assert isinstance(info.value, psycopg.OperationalError)
        assert await c.host_id(conn) == report.new_writer
        assert [row async for row in conn.cursor().stream(f"SELECT id FROM {c.table}")] == [(1,)]
    finally:
        await conn.close()


async def test_copy_fails_over(pg_only: Cluster) -> None:
    c = pg_only
    conn = await c.connect()
    try:
        await c.insert(conn, 1)
        report = await c.tb.failover()
        with pytest.raises(FailoverSuccessError):
            async with conn.cursor().copy(f"COPY {c.table} (id) FROM STDIN") as copy:
                await copy.write_row((2,))
        assert await c.host_id(conn) == report.new_writer
        async with conn.cursor().copy(f"COPY {c.table} (id) FROM STDIN") as copy:  # the retry works
            await copy.write_row((2,))
    finally:
        await conn.close()
    assert await c.ids() == {1, 2}


async def test_waiting_for_notifications_fails_over(pg_only: Cluster) -> None:
    c = pg_only
    conn = await c.connect()
    try:
        await conn.execute("LISTEN fo_channel")
        waiting = asyncio.get_running_loop().create_task(_first_notification(conn))
        driver_conn = conn.target_connection

        async def listening() -> bool:
            return bool(driver_conn.lock.locked())  # psycopg holds it while it waits for notifications

        await until(listening, 10)
        report = await c.tb.failover()
        with pytest.raises(FailoverSuccessError):
            with anyio.fail_after(30):
                await waiting
        assert await c.host_id(conn) == report.new_writer
    finally:
        await conn.close()


async def _first_notification(conn: Any) -> psycopg.Notify:
    async for notify in conn.notifies():
        assert isinstance(notify, psycopg.Notify)
        return notify
    raise AssertionError("notifies() ended")
