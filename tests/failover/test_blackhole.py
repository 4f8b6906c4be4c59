"""A writer that hangs (blackholed: nothing refused, nothing answered) with the default plugin set:
host_monitoring detects it, the failover plugin moves the connection to the new writer."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from awsasyncwrap import FailoverSuccessError, TransactionResolutionUnknownError
from awsasyncwrap.plugins.host_monitoring import HostMonitoringPlugin

from ._helpers import Cluster, link_gone, topology_monitors, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]

#: Short detection (grace 0.5 s, then 2 failed probes 0.2 s apart); everything else is the default.
EFM: dict[str, Any] = {
    "failure_detection_time_ms": 500,
    "failure_detection_interval_ms": 200,
    "failure_detection_count": 2,
}
DETECTION = 0.5 + 0.2 * 2
SLACK = 2.0  # the failover itself plus a loaded 2-core machine


async def test_blackholed_writer_fails_over_with_default_plugins(cluster: Cluster) -> None:
    c = cluster
    old = c.tb.writer
    # the app reaches the writer by its instance address, as the cluster endpoint's DNS would resolve
    conn = await c.connect(old, plugins=None, **EFM)
    try:
        codes = {type(p).__name__ for p in conn.plugin_service.plugins}
        assert {"AuroraConnectionTrackerPlugin", "FailoverPlugin", "HostMonitoringPlugin"} <= codes
        for i in range(5):
            await c.insert(conn, i)
        c.tb.net(old, "blackhole")  # the writer hangs ...
        report = await c.tb.failover()  # ... and the cluster promotes a reader behind it
        start = time.monotonic()
        # sent into the blackhole: whether it took effect is unknown to the client
        with pytest.raises(TransactionResolutionUnknownError):
            with anyio.fail_after(DETECTION + SLACK + 10):  # bounded: would hang without monitoring
                await c.insert(conn, 5)
        assert time.monotonic() - start <= DETECTION + SLACK
        assert await c.host_id(conn) == report.new_writer
        efm = next(p for p in conn.plugin_service.plugins if isinstance(p, HostMonitoringPlugin))
        assert efm.monitor is not None and efm.monitor.host.host != old.address[0]  # it moved along
        assert not await c.is_reader(conn)
        await c.insert(conn, 5)
        assert len(topology_monitors()) == 1
    finally:
        await conn.close()
    assert await c.ids() == set(range(6))


async def _fail_over_from_killed_reader(c: Cluster, conn: object, reader: object) -> float:
    """Kill the reader ``conn`` is on; seconds until its next call raises FailoverSuccessError."""
    await c.tb.kill(reader)  # type: ignore[arg-type]
    start = time.monotonic()
    await link_gone(conn)  # type: ignore[arg-type]
    with pytest.raises(FailoverSuccessError):
        with anyio.fail_after(20):
            await c.run(conn, "SELECT 1")
    return time.monotonic() - start


async def test_monitor_connecting_to_hung_writer_gives_way_to_failover(cluster: Cluster) -> None:
    """The topology monitor's first connection hangs on a blackholed writer (connect timeout 5 s): a
    failover request stops it at once and the monitor probes every instance instead."""
    c = cluster
    old, (r1, r2) = c.tb.writer, c.tb.readers
    c.tb.net(old, "blackhole")  # before anyone connects: the monitor's connect to the writer hangs
    conn = await c.connect(r1, failover_mode="strict_writer")
    try:
        assert topology_monitors()
        report = await c.tb.failover(to=r2)  # the other reader is promoted; the old writer stays hung
        elapsed = await _fail_over_from_killed_reader(c, conn, r1)
        assert elapsed < 2.0, elapsed  # not the monitor's 5 s connect timeout
        assert await c.host_id(conn) == report.new_writer
        await c.insert(conn, 1)
    finally:
        await conn.close()
    assert await c.ids() == {1}


async def test_monitor_reading_from_hung_writer_gives_way_to_failover(cluster: Cluster) -> None:
    """The topology monitor's query hangs on a blackholed writer (I/O timeout 5 s): a failover request
    cuts it to the grace period."""
    c = cluster
    old, (r1, r2) = c.tb.writer, c.tb.readers
    conn = await c.connect(r1, failover_mode="strict_writer", cluster_topology_refresh_rate_ms=100)
    try:
        (monitor,) = topology_monitors()
        await until(lambda: monitor.monitoring_host is not None and monitor.monitoring_host.host_id == old.id)
        c.tb.net(old, "blackhole")  # its next read hangs
        report = await c.tb.failover(to=r2)
        elapsed = await _fail_over_from_killed_reader(c, conn, r1)
        assert elapsed < 2.0, elapsed  # not the monitor's 5 s I/O timeout
        assert await c.host_id(conn) == report.new_writer
        await c.insert(conn, 1)
    finally:
        await conn.close()
    assert await c.ids() == {1}
