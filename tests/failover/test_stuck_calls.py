"""Calls stuck on the writer, with the default plugin set and DEFAULT settings (EFM: 30 s grace, 3 x 5 s):
the writer check asks the other instances whether the writer changed, every ``stuck_call_topology_check_ms``
(0.5 s) while a call stays in flight. A hung writer that was replaced is left within about a second; a
healthy slow writer, or a hung writer nobody replaced, is left alone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
import pytest

from awsasyncwrap import (
    AsyncAwsConnection,
    FailoverSuccessError,
    TransactionResolutionUnknownError,
    release_resources,
)
from awsasyncwrap.plugins.aurora_connection_tracker import tracked_connections
from awsasyncwrap.plugins.host_monitoring import HostMonitor, HostMonitoringPlugin
from awsasyncwrap.topology import ClusterTopologyMonitor

from ._helpers import Cluster, topology_monitors, until, wrapper_tasks

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

CHECK = 0.5  # stuck_call_topology_check_ms, default
SLACK = 1.0  # the check itself, the verification, the failover; a loaded 2-core machine


def efm_monitor(conn: AsyncAwsConnection) -> HostMonitor:
    plugin = next(p for p in conn.plugin_service.plugins if isinstance(p, HostMonitoringPlugin))
    assert plugin.monitor is not None
    return plugin.monitor


async def connect_with_defaults(
    c: Cluster, plugins: str | None = None, **props: Any
) -> tuple[AsyncAwsConnection, ClusterTopologyMonitor]:
    """The default settings (and plugins unless given), to the writer's instance address (as its DNS name
    would resolve)."""
    conn = await c.connect(c.tb.writer, plugins=plugins, **props)
    await c.run(conn, "SELECT 1")  # the first monitored call: EFM's monitor of the writer is acquired
    (monitor,) = topology_monitors()
    return conn, monitor


@pytest.mark.parametrize(
    "plugins",
    [None, "failover,host_monitoring"],
    ids=["default-plugins", "without-tracker"],  # host_monitoring itself ends calls on a replaced writer
)
async def test_call_stuck_on_a_replaced_writer_fails_over_within_a_second(
    cluster: Cluster, plugins: str | None
) -> None:
    c = cluster
    old = c.tb.writer
    conn, monitor = await connect_with_defaults(c, plugins)
    try:
        for i in range(5):
            await c.insert(conn, i)
        efm = efm_monitor(conn)
        c.tb.net(old, "blackhole")  # the writer hangs ...
        stuck = asyncio.create_task(c.insert(conn, 5))
        await until(lambda: len(efm.calls) == 1)
        report = await c.tb.failover()  # ... and the cluster promotes a reader behind it
        promoted = time.monotonic()
        with pytest.raises(TransactionResolutionUnknownError):  # it was sent: its outcome is unknown
            with anyio.fail_after(CHECK + SLACK + 30):  # bounded: EFM alone would take 45 s
                await stuck
        elapsed = time.monotonic() - promoted
        assert elapsed <= CHECK + SLACK, elapsed
        assert efm.declared_dead == 0 and efm.probes == 0  # EFM's own detection was 30 s away
        assert efm.stuck_reports >= 1 and monitor.writer_changes_found == 1
        assert await c.host_id(conn) == report.new_writer
        assert not await c.is_reader(conn)
        await c.insert(conn, 6)
        assert efm_monitor(conn).host.host == c.tb.instance(report.new_writer).address[0]  # EFM moved along
    finally:
        await conn.close()
    ids = await c.ids()
    acked = {0, 1, 2, 3, 4, 6}
    assert acked <= ids <= acked | {5}  # no acknowledged row lost (5 never reached the old writer)


async def test_a_check_that_ran_before_the_promotion_sees_it_without_autocommit(cluster: Cluster) -> None:
    """The drivers' default (no autocommit) for the app: the checks before the promotion read the old
    topology on connections the episode keeps; the check after it reads the new one there (MariaDB once
    answered every later read from the snapshot of the first, and the calls stayed stuck)."""
    c = cluster
    old = c.tb.writer
    conn, monitor = await connect_with_defaults(c, autocommit=False)
    try:
        await c.run(conn, "SELECT 1")
        await conn.rollback()
        c.tb.net(old, "blackhole")  # the writer hangs ...
        stuck = asyncio.create_task(c.run(conn, "SELECT 1"))
        await until(lambda: monitor.writer_checks >= 2, timeout=3 * CHECK + SLACK + 5)
        assert not stuck.done() and monitor.writer_changes_found == 0  # nobody replaced it yet
        report = await c.tb.failover()  # ... and the cluster promotes a reader behind it
        promoted = time.monotonic()
        with pytest.raises((FailoverSuccessError, TransactionResolutionUnknownError)):
            with anyio.fail_after(2 * CHECK + SLACK + 30):  # bounded: EFM alone would take 45 s
                await stuck
        elapsed = time.monotonic() - promoted
        assert elapsed <= 2 * CHECK + SLACK, elapsed  # the next report and check, then the failover
        assert monitor.writer_changes_found == 1
        assert await c.host_id(conn) == report.new_writer
    finally:
        await conn.close()
    await release_resources()
    assert wrapper_tasks() == []


async def test_long_query_on_a_healthy_writer_is_left_alone(cluster: Cluster) -> None:
    c = cluster
    conn, monitor = await connect_with_defaults(c)
    try:
        efm = efm_monitor(conn)
        rounds, raw = monitor.verification_rounds, conn.plugin_service.current_connection
        with anyio.fail_after(20):
            rows = await c.run(conn, c.sleep_sql(5))
        assert len(rows) == 1  # it ran to the end
        # a report every CHECK seconds after the first CHECK: a handful of checks, each one query pair per
        # other instance
        expected = round(5 / CHECK) - 1
        assert expected - 2 <= efm.stuck_reports <= expected + 1, efm.stuck_reports
        assert expected - 2 <= monitor.writer_checks <= expected + 1, monitor.writer_checks
        assert monitor.writer_changes_found == 0
        assert monitor.verification_rounds == rounds and not monitor.high_rate  # no high-rate hold
        assert efm.declared_dead == 0
        assert conn.plugin_service.current_connection is raw  # not aborted, not failed over
        assert raw in tracked_connections(efm.host.url)
        # the call ended: the check stops (after one period without a report) and closes its connections
        await until(lambda: not monitor.writer_check_running, timeout=3 * CHECK + SLACK)
        checks = monitor.writer_checks
        # only the monitoring connection and the idle spares: the check's connections are spares again
        assert set(monitor._open) <= {monitor._conn, *monitor._spares.values()}
        await c.run(conn, "SELECT 1")
        assert monitor.writer_checks == checks
    finally:
        await conn.close()
    await release_resources()
    assert wrapper_tasks() == []


async def test_hung_writer_nobody_replaced_is_not_aborted_by_the_check(cluster: Cluster) -> None:
    c = cluster
    old = c.tb.writer
    conn, monitor = await connect_with_defaults(c)
    try:
        efm = efm_monitor(conn)
        rounds = monitor.verification_rounds
        c.tb.net(old, "blackhole")  # hung, and no failover
        call = asyncio.create_task(c.run(conn, c.sleep_sql(0.5)))
        await until(lambda: monitor.writer_checks >= 3, timeout=3 * CHECK + SLACK + 5)
        assert not call.done()  # the readers still name the old writer: nothing was aborted
        assert monitor.writer_changes_found == 0 and monitor.verification_rounds == rounds
        assert efm.declared_dead == 0
        c.tb.net(old, "pass")  # the writer answers again: the held query runs and returns
        with anyio.fail_after(10):
            rows = await call
        assert len(rows) == 1
        await until(lambda: not monitor.writer_check_running, timeout=3 * CHECK + SLACK)
        await c.insert(conn, 1)  # the same connection, on the same writer
        assert await c.host_id(conn) == old.id
    finally:
        await conn.close()
    assert await c.ids() == {1}
    await release_resources()
    assert wrapper_tasks() == []


async def test_the_check_can_be_turned_off(cluster: Cluster) -> None:
    c = cluster
    conn, monitor = await connect_with_defaults(c, stuck_call_topology_check_ms=0)
    try:
        efm = efm_monitor(conn)
        with anyio.fail_after(20):
            await c.run(conn, c.sleep_sql(1.5))
        assert efm.stuck_reports == 0 and monitor.writer_checks == 0
        assert efm._stuck_timer is None
    finally:
        await conn.close()
