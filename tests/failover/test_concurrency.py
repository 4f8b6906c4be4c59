"""Many connections through one failover: one shared topology monitor, each connection fails over once."""

from __future__ import annotations

import asyncio
import time

import pytest

from awsasyncwrap import FailoverSuccessError, TransactionResolutionUnknownError
from awsasyncwrap.topology import monitor_key

from ._helpers import Cluster, topology_monitors

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

N = 80  # the PostgreSQL testbed allows 100 connections per node (monitor and replication included)


async def test_concurrent_connections_through_one_failover(cluster: Cluster) -> None:
    c = cluster
    conns = await asyncio.gather(*(c.connect() for _ in range(N)))
    acked: dict[int, float] = {}
    outcomes: dict[int, list[str]] = {i: [] for i in range(N)}
    stop = asyncio.Event()
    everyone_failed_over = asyncio.Event()

    async def worker(i: int) -> None:
        conn = conns[i]
        n = 0
        while not stop.is_set():
            value = i * 100_000 + n
            try:
                await c.insert(conn, value)
                acked[value] = time.monotonic()
                n += 1
            except FailoverSuccessError:
                outcomes[i].append("success")
                if all(outcomes.values()):
                    everyone_failed_over.set()
            await asyncio.sleep(0.005)

    try:
        monitors = topology_monitors()
        assert len(monitors) == 1
        cluster_id = conns[0].plugin_service.host_list_provider.get_cluster_id()
        assert all(conn.plugin_service.host_list_provider.get_cluster_id() == cluster_id for conn in conns)
        tasks = [asyncio.create_task(worker(i)) for i in range(N)]
        await asyncio.sleep(0.3)
        t_call = time.monotonic()
        report = await c.tb.failover()
        t_done = time.monotonic()
        async with asyncio.timeout(30):
            await everyone_failed_over.wait()
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*tasks)
        assert all(o == ["success"] for o in outcomes.values()), outcomes
        assert len(topology_monitors()) == 1
        monitor = topology_monitors()[0]
        assert monitor.topology is not None and monitor.topology.writer is not None
        assert monitor.topology.writer.host_id == report.new_writer
        assert monitor.verification_rounds <= 3  # coalesced, not one per connection
        from awsasyncwrap._background import registry

        assert registry().get(monitor_key(cluster_id)) is monitor
        for conn in conns:
            assert conn.current_host is not None and conn.current_host.host_id == report.new_writer
    finally:
        stop.set()
        await asyncio.gather(*(conn.close() for conn in conns))
    # the emulation loses commits acknowledged by the old writer while testbed.failover() runs
    # (async replication between its catch-up and the kill); everything else must be there
    must_have = {v for v, t in acked.items() if t < t_call or t > t_done}
    assert must_have <= await c.ids()
    assert not topology_monitors()  # disposal time 0: the last close stopped the monitor


async def test_concurrent_calls_on_one_connection_share_one_failover(cluster: Cluster) -> None:
    c = cluster
    if not c.pg:
        pytest.skip("aiomysql does not allow concurrent calls on one connection")
    conn = await c.connect()
    try:
        await c.tb.failover()
        results = await asyncio.gather(*(c.run(conn, "SELECT 1") for _ in range(5)), return_exceptions=True)
        assert all(isinstance(r, FailoverSuccessError) or r == [(1,)] for r in results), results
        assert any(isinstance(r, FailoverSuccessError) for r in results)
        assert not any(isinstance(r, TransactionResolutionUnknownError) for r in results)
        assert conn.plugin_service.plugins[0].failover_count == 1  # type: ignore[attr-defined]
    finally:
        await conn.close()
