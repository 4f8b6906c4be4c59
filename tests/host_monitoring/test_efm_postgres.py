"""host_monitoring over psycopg against a real PostgreSQL server behind a fault proxy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import psycopg
import pytest

import awsasyncwrap
from awsasyncwrap import HostAvailability
from awsasyncwrap.testbed import Testbed

from ._helpers import (
    DETECTION,
    SLACK,
    ThreadWatch,
    monitor_of,
    pg_connect,
    pg_running,
    pg_terminate,
    until,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def tb(pg_server: Testbed) -> AsyncIterator[Testbed]:
    yield pg_server
    pg_server.net("all", "pass")
    await pg_terminate(pg_server, "pg_sleep(")
    await awsasyncwrap.release_resources()  # every test starts with fresh monitors


async def test_blackholed_host_aborts_the_call_within_detection_time(tb: Testbed) -> None:
    inst = tb.writer
    async with ThreadWatch() as watch:
        conn = await pg_connect(tb, inst)
        try:
            cur = conn.cursor()
            start = time.monotonic()
            call = asyncio.create_task(cur.execute("SELECT pg_sleep(600)"))
            await until(lambda: pg_running(tb, inst, "pg_sleep(600)"))
            tb.net(inst, "blackhole")
            with pytest.raises(psycopg.OperationalError) as info:
                await asyncio.wait_for(call, DETECTION + SLACK + 10)
            elapsed = time.monotonic() - start
            assert elapsed <= DETECTION + SLACK, elapsed
            assert conn.plugin_service.is_network_error(info.value, conn.target_connection)
            monitor = monitor_of(conn)
            assert monitor.declared_dead == 1 and monitor.failed_probes >= 2
            assert not monitor.task.done() and len(monitor.calls) == 0
            (host,) = conn.plugin_service.hosts
            assert host.availability is HostAvailability.UNAVAILABLE
            conn.plugin_service.set_availability(host.all_aliases, HostAvailability.AVAILABLE)
        finally:
            tb.net(inst, "pass")
            await conn.close()
    assert not watch.created


async def test_healthy_long_query_is_never_aborted(tb: Testbed) -> None:
    conn = await pg_connect(tb, tb.writer)
    try:
        cur = conn.cursor()
        await cur.execute("SELECT pg_sleep(3), 42")
        assert await cur.fetchone() == ("", 42)
        monitor = monitor_of(conn)
        assert monitor.probes >= 5 and monitor.failed_probes == 0 and monitor.declared_dead == 0
        await until(lambda: monitor.state in ("idle", "waiting"))
    finally:
        await conn.close()


async def test_refused_probe_connections_do_not_kill_the_monitor(tb: Testbed) -> None:
    inst = tb.writer
    conn = await pg_connect(
        tb,
        inst,
        failure_detection_time_ms=300,
        failure_detection_interval_ms=100,
        failure_detection_count=1000,
    )
    try:
        cur = conn.cursor()
        await cur.execute("SELECT 1")
        monitor = monitor_of(conn)
        tb.net(inst, "refuse")  # new connections (the monitor's) are refused; the app's stays up
        call = asyncio.create_task(cur.execute("SELECT pg_sleep(2.5), 7"))
        await until(lambda: monitor.failed_probes >= 3)
        assert not monitor.task.done() and monitor.consecutive_failures >= 2
        tb.net(inst, "pass")
        await until(lambda: monitor.consecutive_failures == 0 and monitor.probes > monitor.failed_probes)
        await call
        assert await cur.fetchone() == ("", 7)
        assert monitor.errors == 0 and monitor.declared_dead == 0 and not monitor.task.done()
    finally:
        tb.net(inst, "pass")
        await conn.close()


async def test_monitor_reopens_its_connection_after_losing_it(tb: Testbed) -> None:
    inst = tb.writer
    conn = await pg_connect(
        tb,
        inst,
        failure_detection_time_ms=300,
        failure_detection_interval_ms=100,
        failure_detection_count=1000,
        **{"monitoring-application_name": "efm_probe_test"},
    )
    try:
        cur = conn.cursor()
        call = asyncio.create_task(cur.execute("SELECT pg_sleep(2.5)"))
        await until(lambda: pg_running(tb, inst, "pg_sleep(2.5)"))
        monitor = monitor_of(conn)
        await until(lambda: monitor.probes >= 2 and monitor.monitoring_connection is not None)
        pid = monitor.monitoring_connection.info.backend_pid
        async with await psycopg.AsyncConnection.connect(tb.dsn(inst, direct=True), autocommit=True) as raw:
            killed = await raw.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'efm_probe_test' AND pid = %s",
                (pid,),
            )
            assert await killed.fetchone() == (True,)
        await until(lambda: monitor.failed_probes >= 1)
        ok_before = monitor.probes - monitor.failed_probes
        await until(lambda: monitor.probes - monitor.failed_probes > ok_before)
        await call
        assert monitor.declared_dead == 0 and monitor.errors == 0 and not monitor.task.done()
    finally:
        await conn.close()


async def test_cancelled_call_unregisters_and_never_marks_the_host(tb: Testbed) -> None:
    conn = await pg_connect(tb, tb.writer)
    try:
        cur = conn.cursor()
        call = asyncio.create_task(cur.execute("SELECT pg_sleep(600)"))
        await until(lambda: pg_running(tb, tb.writer, "pg_sleep(600)"))
        monitor = monitor_of(conn)
        await until(lambda: monitor.probes >= 1)  # the call is overdue and the host is being probed
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(call), 15)
        assert len(monitor.calls) == 0 and monitor.declared_dead == 0
        (host,) = conn.plugin_service.hosts
        assert host.availability is HostAvailability.AVAILABLE
        await cur.execute("SELECT 1")  # the connection is still good: the query was cancelled server-side
        assert await cur.fetchone() == (1,)
    finally:
        await conn.close()
