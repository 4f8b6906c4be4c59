"""Many connections through one failover: one shared topology monitor, each connection fails over once."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from awsasyncwrap import FailoverSuccessError, TransactionResolutionUnknownError
from awsasyncwrap._background import registry
from awsasyncwrap.topology import monitor_key

from ._helpers import Cluster, topology_monitors

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

#: App connections of the concurrency test (as the issue asks).
N_CONNS = 100
#: Connections a node needs besides the app's: monitors, probes, the testbed's own, dblink topology reads.
HEADROOM = 20


async def test_concurrent_connections_through_one_failover(cluster: Cluster) -> None:
    c = cluster
    sql = "SHOW max_connections" if c.pg else "SELECT @@max_connections"
    limit = int((await c.query_writer(sql))[0][0])
    assert limit >= N_CONNS + HEADROOM, f"the testbed allows {limit} connections per node"
    n_conns = N_CONNS
    conns = await asyncio.gather(*(c.connect() for _ in range(n_conns)))
    acked: set[int] = set()
    outcomes: dict[int, list[str]] = {i: [] for i in range(n_conns)}
    written_before: set[int] = set()  # workers with a write acknowledged before the failover
    written_after: set[int] = set()  # workers with a write acknowledged after their FailoverSuccessError
    all_before, all_after = asyncio.Event(), asyncio.Event()
    stop = asyncio.Event()

    async def worker(i: int) -> None:
        conn = conns[i]
        n = 0
        while not stop.is_set():
            value = i * 100_000 + n
            n += 1
            try:
                await c.insert(conn, value)
            except FailoverSuccessError:
                outcomes[i].append("failed over")  # never reached the server
            except TransactionResolutionUnknownError:
                outcomes[i].append("failed over")  # it was in flight (held by the fenced writer's proxy)
            else:
                acked.add(value)
                done = written_after if outcomes[i] else written_before
                done.add(i)
                if len(written_before) == n_conns:
                    all_before.set()
                if len(written_after) == n_conns:
                    all_after.set()
            await asyncio.sleep(0.005)  # pacing: about 200 writes per second per connection

    tasks: list[asyncio.Task[None]] = []
    try:
        monitors = topology_monitors()
        assert len(monitors) == 1
        cluster_id = conns[0].plugin_service.host_list_provider.get_cluster_id()
        assert all(conn.plugin_service.host_list_provider.get_cluster_id() == cluster_id for conn in conns)
        tasks = [asyncio.create_task(worker(i)) for i in range(n_conns)]
        with anyio.fail_after(20):
            await all_before.wait()
        report = await c.tb.failover()
        with anyio.fail_after(30):
            await all_after.wait()  # every connection failed over and wrote on the new writer
        stop.set()
        await asyncio.gather(*tasks)
        assert all(o == ["failed over"] for o in outcomes.values()), outcomes
        assert len(topology_monitors()) == 1
        monitor = topology_monitors()[0]
        assert monitor.topology is not None and monitor.topology.writer is not None
        assert monitor.topology.writer.host_id == report.new_writer
        assert monitor.verification_rounds <= 3  # coalesced, not one per connection
        assert registry().get(monitor_key(cluster_id)) is monitor
        for conn in conns:
            assert conn.current_host is not None and conn.current_host.host_id == report.new_writer
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(conn.close() for conn in conns))
    assert acked <= await c.ids()  # every acknowledged commit survived, also during failover()
    assert not topology_monitors()  # disposal time 0: the last close stopped the monitor


async def test_concurrent_calls_on_one_connection_share_one_failover(pg_only: Cluster) -> None:
    """psycopg serializes concurrent calls on one connection (aiomysql forbids them: PostgreSQL only)."""
    c = pg_only
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
