"""The cluster topology monitor's life: one per cluster and event loop, shared by every connection; it
stops after the disposal delay once its last connection closed, and on ``release_resources()``; no task
of the wrapper outlives closing everything."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from awsasyncwrap import FailoverSuccessError, release_resources
from awsasyncwrap.plugins.host_monitoring import HostMonitoringPlugin, host_monitors
from awsasyncwrap.topology import RdsHostListProvider

from ._helpers import Cluster, topology_monitors, until, wrapper_tasks

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


def _monitor_of(conn: Any) -> Any:
    return conn.plugin_service.host_list_provider.monitor()


async def test_one_monitor_per_cluster(cluster: Cluster) -> None:
    c = cluster
    conns = [
        await c.connect(),  # cluster endpoint
        await c.connect(c.tb.writer),  # instances
        await c.connect(c.tb.readers[0]),
        await c.connect("reader"),  # reader endpoint
    ]
    other = await c.connect(cluster_id="another-cluster")  # what the app calls another cluster
    try:
        (monitor,) = {id(_monitor_of(conn)): _monitor_of(conn) for conn in conns}.values()
        assert _monitor_of(other) is not monitor
        assert {id(m) for m in topology_monitors()} == {id(monitor), id(_monitor_of(other))}
        # one loop task each, once the short-lived task that opens the spare connections is done
        await until(lambda: all(monitor.task_count <= 1 for monitor in topology_monitors()))
    finally:
        for conn in [*conns, other]:
            await conn.close()
    assert not topology_monitors()  # disposal time 0 (the helper's default)


async def test_one_monitor_per_event_loop(cluster: Cluster) -> None:
    """Another event loop (here in a thread) gets its own monitor; neither sees the other's."""
    c = cluster
    conn = await c.connect()
    ours = _monitor_of(conn)

    async def in_other_loop() -> tuple[int, int]:
        other = await c.connect()
        try:
            seen = topology_monitors()
            return len(seen), id(seen[0])
        finally:
            await other.close()
            await release_resources()

    try:
        count, theirs = await asyncio.wait_for(asyncio.to_thread(asyncio.run, in_other_loop()), 30)
        assert count == 1 and theirs != id(ours)
        assert topology_monitors() == [ours] and not ours.closed
    finally:
        await conn.close()


async def test_monitor_stops_after_disposal_delay(cluster: Cluster) -> None:
    c = cluster
    delay = 0.5
    first = await c.connect(monitor_disposal_time_ms=int(delay * 1000))
    second = await c.connect(monitor_disposal_time_ms=int(delay * 1000))
    monitor = _monitor_of(first)
    await until(lambda: monitor.topology is not None and monitor.topology.verified_at is not None)
    await first.close()
    assert not monitor.closed  # the second connection still uses it
    await second.close()
    closed_at = time.monotonic()
    assert not monitor.closed  # the delay runs

    again = await c.connect(monitor_disposal_time_ms=int(delay * 1000))  # back within the delay
    try:
        assert _monitor_of(again) is monitor and not monitor.closed
    finally:
        await again.close()
        closed_at = time.monotonic()
    await until(lambda: monitor.closed, timeout=delay + 5)
    assert time.monotonic() - closed_at >= delay * 0.9
    await until(lambda: monitor.task_count == 0, timeout=5)
    assert not topology_monitors()


async def test_release_resources_stops_monitors_of_open_connections(cluster: Cluster) -> None:
    """Default plugins and disposal delay: release_resources() stops every monitor at once."""
    c = cluster
    conns = [await c.connect(plugins=None, monitor_disposal_time_ms=60_000) for _ in range(3)]
    try:
        for i, conn in enumerate(conns):
            await c.insert(conn, i)  # host monitors start with the first monitored call
        monitors = [*topology_monitors(), *host_monitors()]
        assert len(topology_monitors()) == 1 and host_monitors()
        await release_resources()
        assert all(m.closed and m.task_count == 0 for m in monitors)
        assert not topology_monitors() and not host_monitors()
        assert not wrapper_tasks()
    finally:
        for conn in conns:
            await conn.close()
    assert await c.ids() == {0, 1, 2}


async def test_no_task_survives_closing_everything(cluster: Cluster) -> None:
    """After a failover (probes, high rate) and closing every connection, the wrapper's tasks end once
    the disposal delay passed."""
    c = cluster
    delay = 0.2
    conns = [await c.connect(plugins=None, monitor_disposal_time_ms=int(delay * 1000)) for _ in range(3)]
    try:
        for i, conn in enumerate(conns):
            await c.insert(conn, i)
        report = await c.tb.failover()
        for i, conn in enumerate(conns):
            with pytest.raises(FailoverSuccessError):
                await c.insert(conn, 10 + i)
            await c.insert(conn, 10 + i)
            assert await c.host_id(conn) == report.new_writer
        assert wrapper_tasks()  # the monitors run
    finally:
        for conn in conns:
            await conn.close()
    await until(lambda: not wrapper_tasks(), timeout=delay + 10)
    assert not topology_monitors() and not host_monitors()
    assert await c.ids() == {0, 1, 2, 10, 11, 12}


async def test_a_connect_still_in_flight_after_close_acquires_no_monitor(cluster: Cluster) -> None:
    """A monitor's spare connect runs through its connection's plugins; if that connection closes meanwhile,
    the connect's tail (the connection tracker asks for the cluster's monitor) must not start a new monitor
    that nobody would ever release (it held one session per instance until the process ended)."""
    c = cluster
    conn = await c.connect(plugins="aurora_connection_tracker,failover")
    service = conn.plugin_service
    provider = service.host_list_provider
    try:
        assert isinstance(provider, RdsHostListProvider)
        await c.insert(conn, 1)
        topo = provider.known_topology()
        assert topo is not None and topo.readers
        await provider.release()  # what close() does first; the connect below was already under way
        assert not topology_monitors()
        spare = await service.force_connect(topo.readers[0], service.props)
        try:
            assert not topology_monitors()
            with pytest.raises(RuntimeError, match="released"):
                provider.monitor()
        finally:
            await service.dispose(spare)
    finally:
        await conn.close()
    assert not topology_monitors()


async def test_a_call_still_in_flight_after_close_acquires_no_host_monitor(cluster: Cluster) -> None:
    """A call that entered the plugins before close() and reaches host_monitoring after it: the plugin
    already released its monitor and must not acquire a new one (it would hold a connection forever)."""
    c = cluster
    conn = await c.connect(plugins="failover,host_monitoring")
    plugin = next(p for p in conn.plugin_service.plugins if isinstance(p, HostMonitoringPlugin))
    await c.insert(conn, 1)
    assert host_monitors()
    await conn.close()
    assert not host_monitors()

    async def call() -> str:
        return "ran"

    assert await plugin.execute(conn, "Cursor.execute", call) == "ran"
    assert not host_monitors() and plugin.monitor is None
