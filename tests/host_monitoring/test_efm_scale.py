"""One monitor task per host, however many connections and calls: 3 hosts, 1,000 calls in flight, no threads.

The testbed's PostgreSQL instances accept 100 connections each, so the 1,000 concurrent calls run over
80 real connections per host (240 in all); psycopg serializes calls per connection, and every call is
registered with its host's monitor from the moment it enters the plugin, so 1,000 calls are in flight
(registered) at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import awsasyncwrap
from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.plugins.host_monitoring import host_monitors
from awsasyncwrap.testbed import Testbed

from ._helpers import ThreadWatch, monitor_tasks, pg_connect, until

pytestmark = [pytest.mark.timeout(120), pytest.mark.cluster, pytest.mark.slow]

CONNS_PER_HOST = 80
CALLS = 1000


async def open_all(tb: Testbed, per_host: int) -> list[AsyncAwsConnection]:
    gate = asyncio.Semaphore(20)

    async def one(i: int) -> AsyncAwsConnection:
        async with gate:
            return await pg_connect(tb, tb.instances[i % len(tb.instances)])

    return list(await asyncio.gather(*(one(i) for i in range(per_host * len(tb.instances)))))


async def test_thousand_calls_to_three_hosts_use_three_monitor_tasks_and_no_thread(
    pg_cluster: Testbed,
) -> None:
    tb = pg_cluster
    baseline = asyncio.all_tasks()
    async with ThreadWatch() as watch:
        conns = await open_all(tb, CONNS_PER_HOST)
        try:
            release = asyncio.Event()

            async def call(conn: AsyncAwsConnection) -> Any:
                cur = conn.cursor()
                await cur.execute("SELECT pg_sleep(0.1), 1")
                row = await cur.fetchone()
                await release.wait()
                return row

            calls = [asyncio.create_task(call(conns[i % len(conns)])) for i in range(CALLS)]
            await until(lambda: sum(len(m.calls) for m in host_monitors()) == CALLS, timeout=10, every=0)
            assert len(host_monitors()) == 3
            assert len(monitor_tasks()) == 3
            assert sorted(m.host.url for m in host_monitors()) == sorted(
                f"{i.address[0]}:{i.address[1]}" for i in tb.instances
            )
            release.set()
            rows = await asyncio.wait_for(asyncio.gather(*calls), 60)
            assert rows == [("", 1)] * CALLS
            # calls queued behind psycopg's per-connection lock were in flight past the grace time: probed,
            # the hosts answered, nothing was aborted
            assert all(m.declared_dead == 0 and m.failed_probes == 0 for m in host_monitors())
            assert all(len(m.calls) == 0 for m in host_monitors())
            assert len(monitor_tasks()) == 3
        finally:
            await asyncio.gather(*(c.close() for c in conns))
        assert len(host_monitors()) == 3  # closed connections release; monitors linger for the disposal time
        await awsasyncwrap.release_resources()
    assert not watch.created
    assert monitor_tasks() == []
    assert asyncio.all_tasks() - baseline == set()


async def test_monitor_stops_after_disposal_time_when_its_connections_close(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    baseline = asyncio.all_tasks()
    conns = [
        await pg_connect(tb, inst, monitor_disposal_time_ms=200) for inst in tb.instances for _ in range(2)
    ]
    for conn in conns:
        await conn.cursor().execute("SELECT 1")
    assert len(monitor_tasks()) == 3
    for conn in conns:
        await conn.close()
    await until(lambda: monitor_tasks() == [], timeout=5)
    await until(lambda: asyncio.all_tasks() - baseline == set(), timeout=5)
    await awsasyncwrap.release_resources()
