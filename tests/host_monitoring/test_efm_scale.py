"""One monitor task per host, however many connections and calls: 1,000 connections to 3 hosts, no threads.

The session testbeds' PostgreSQL instances take 100 connections each, so the 1,000-connection test runs
on a cluster of its own whose instances are restarted with a higher ``max_connections``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest

import awsasyncwrap
from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.plugins.host_monitoring import host_monitors
from awsasyncwrap.testbed import Testbed

from ._helpers import ThreadWatch, monitor_tasks, pg_connect, raise_pg_max_connections, until

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CONNECTIONS = 1000
#: Grace 0.5 s as elsewhere, but probes get 1 s each: one event loop serves 1,000 busy connections here.
EFM_UNDER_LOAD: dict[str, Any] = {"failure_detection_interval_ms": 1000, "failure_detection_count": 3}


async def open_all(tb: Testbed, count: int) -> list[AsyncAwsConnection]:
    gate = asyncio.Semaphore(25)

    async def one(i: int) -> AsyncAwsConnection:
        async with gate:
            return await pg_connect(tb, tb.instances[i % len(tb.instances)], **EFM_UNDER_LOAD)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


@pytest.mark.timeout(300)
async def test_thousand_connections_to_three_hosts_use_three_monitor_tasks_and_no_thread() -> None:
    with anyio.fail_after(120):
        tb = await Testbed.start("postgres", instances=3)
    try:
        with anyio.fail_after(120):
            await raise_pg_max_connections(tb, CONNECTIONS // 3 + 100)
        baseline = asyncio.all_tasks()
        async with ThreadWatch() as watch:
            conns: list[AsyncAwsConnection] = []
            try:
                with anyio.fail_after(180):
                    conns = await open_all(tb, CONNECTIONS)
                release = asyncio.Event()

                async def call(conn: AsyncAwsConnection) -> Any:
                    cur = conn.cursor()
                    await cur.execute("SELECT pg_sleep(1), 1")  # registered until the server answers
                    row = await cur.fetchone()
                    await release.wait()
                    return row

                calls = [asyncio.create_task(call(conn)) for conn in conns]
                await until(lambda: sum(len(m.calls) for m in host_monitors()) == CONNECTIONS, every=0)
                assert len(host_monitors()) == 3  # 1,000 connections, 1,000 calls in flight, 3 hosts
                assert len(monitor_tasks()) == 3
                assert sorted(m.host.url for m in host_monitors()) == sorted(
                    f"{i.address[0]}:{i.address[1]}" for i in tb.instances
                )
                release.set()
                rows = await asyncio.wait_for(asyncio.gather(*calls), 120)
                assert rows == [("", 1)] * CONNECTIONS
                # the calls outlived the grace time: probed, the hosts answered, nothing was aborted (a
                # probe may time out on a starved machine: one loop serves 1,000 connections; a miss is
                # not a verdict, failure_detection_count misses in a row would be)
                monitors = host_monitors()
                assert all(m.probes > m.failed_probes and m.declared_dead == 0 for m in monitors), [
                    repr(m) for m in monitors
                ]
                assert all(len(m.calls) == 0 for m in host_monitors())
                assert len(monitor_tasks()) == 3
            except BaseException:
                await asyncio.gather(*(c.close() for c in conns))
                await awsasyncwrap.release_resources()  # no monitor of this test outlives it
                raise
            await asyncio.gather(*(c.close() for c in conns))
            assert len(host_monitors()) == 3  # closed connections release; monitors linger (disposal time)
            await awsasyncwrap.release_resources()
            assert monitor_tasks() == []
        await until(lambda: asyncio.all_tasks() - baseline == set(), timeout=10)
        assert not watch.created
    finally:
        with anyio.fail_after(60):
            await tb.aclose()


@pytest.mark.timeout(60)
async def test_monitor_stops_after_disposal_time_when_its_connections_close(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    await awsasyncwrap.release_resources()  # from no monitor at all, whatever ran before
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
