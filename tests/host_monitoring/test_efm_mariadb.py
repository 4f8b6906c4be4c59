"""host_monitoring over aiomysql against a real MariaDB server behind a fault proxy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pymysql
import pytest

import awsasyncwrap
from awsasyncwrap import HostAvailability
from awsasyncwrap.testbed import Testbed

from ._helpers import (
    DETECTION,
    SLACK,
    ThreadWatch,
    monitor_of,
    mysql_connect,
    mysql_running,
    mysql_terminate,
    until,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def tb(mariadb_server: Testbed) -> AsyncIterator[Testbed]:
    yield mariadb_server
    mariadb_server.net("all", "pass")
    await mysql_terminate(mariadb_server, "SLEEP(")
    await awsasyncwrap.release_resources()


async def test_blackholed_host_aborts_the_call_within_detection_time(tb: Testbed) -> None:
    inst = tb.writer
    async with ThreadWatch() as watch:
        conn = await mysql_connect(tb, inst)
        try:
            cur = conn.cursor()
            start = time.monotonic()
            call = asyncio.create_task(cur.execute("SELECT SLEEP(600)"))
            await until(lambda: mysql_running(tb, inst, "SLEEP(600)"))
            tb.net(inst, "blackhole")
            with pytest.raises(pymysql.err.OperationalError) as info:
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
    conn = await mysql_connect(tb, tb.writer)
    try:
        cur = conn.cursor()
        await cur.execute("SELECT SLEEP(2), 42")
        assert await cur.fetchone() == (0, 42)
        monitor = monitor_of(conn)
        assert monitor.probes >= 4 and monitor.failed_probes == 0 and monitor.declared_dead == 0
    finally:
        await conn.close()


async def test_refused_probe_connections_do_not_kill_the_monitor(tb: Testbed) -> None:
    inst = tb.writer
    conn = await mysql_connect(
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
        tb.net(inst, "refuse")
        call = asyncio.create_task(cur.execute("SELECT SLEEP(2.5), 7"))
        await until(lambda: monitor.failed_probes >= 3)
        assert not monitor.task.done()
        tb.net(inst, "pass")
        await until(lambda: monitor.consecutive_failures == 0 and monitor.probes > monitor.failed_probes)
        await call
        assert await cur.fetchone() == (0, 7)
        assert monitor.errors == 0 and monitor.declared_dead == 0 and not monitor.task.done()
    finally:
        tb.net(inst, "pass")
        await conn.close()
