"""host_monitoring + failover on an emulated Aurora cluster: a blackholed writer, then the new one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import psycopg
import pytest

import awsasyncwrap
from awsasyncwrap.testbed import Testbed

from ._helpers import DETECTION, SLACK, monitor_of, pg_connect, pg_running, pg_terminate, until

pytest.importorskip("awsasyncwrap.plugins.failover")  # written in parallel: runs once it exists

pytestmark = [pytest.mark.timeout(90), pytest.mark.cluster]


@pytest.fixture
async def tb(pg_cluster: Testbed) -> AsyncIterator[Testbed]:
    yield pg_cluster
    pg_cluster.net("all", "pass")
    await pg_terminate(pg_cluster, "pg_sleep(")
    await awsasyncwrap.release_resources()


async def test_blackholed_writer_fails_over_to_the_new_writer(tb: Testbed) -> None:
    old = tb.writer
    conn = await pg_connect(tb, old, plugins="failover,host_monitoring", failover_timeout_sec=30)
    try:
        cur = conn.cursor()
        await cur.execute("SELECT 1")
        monitor = monitor_of(conn)
        start = time.monotonic()
        call = asyncio.create_task(cur.execute("SELECT pg_sleep(600)"))
        await until(lambda: pg_running(tb, old, "pg_sleep(600)"))
        tb.net(old, "blackhole")  # the writer stops answering: the app's call hangs ...
        report = await tb.failover()  # ... and a reader is promoted (the old writer is killed)
        new = tb.instance(report.new_writer)
        with pytest.raises(psycopg.OperationalError) as info:  # FailoverSuccessError is one too
            await asyncio.wait_for(call, 60)
        elapsed = time.monotonic() - start
        assert monitor.declared_dead == 1 and monitor.failed_probes >= 2
        assert type(info.value).__name__ == "PsycopgFailoverSuccessError", repr(info.value)
        assert elapsed <= DETECTION + SLACK + 5, elapsed  # detection, then the failover plugin's reconnect
        assert conn.current_host is not None and conn.current_host.host == new.address[0]
        cur = conn.cursor()
        await cur.execute("SELECT pg_is_in_recovery()")
        assert await cur.fetchone() == (False,)
    finally:
        await conn.close()


async def test_call_on_blackholed_writer_fails_within_detection_time_with_failover_on(tb: Testbed) -> None:
    old = tb.writer
    conn = await pg_connect(tb, old, plugins="failover,host_monitoring", failover_timeout_sec=2)
    try:
        cur = conn.cursor()
        start = time.monotonic()
        call = asyncio.create_task(cur.execute("SELECT pg_sleep(600)"))
        await until(lambda: pg_running(tb, old, "pg_sleep(600)"))
        tb.net(old, "blackhole")
        await until(lambda: monitor_of(conn).declared_dead == 1, timeout=DETECTION + SLACK + 5, every=0.005)
        assert time.monotonic() - start <= DETECTION + SLACK
        with pytest.raises(psycopg.OperationalError):
            await asyncio.wait_for(call, 60)
    finally:
        await conn.close()
