"""host_monitoring + failover on an emulated Aurora cluster (PostgreSQL and MariaDB): a blackholed writer.

The application's long call (``pg_sleep(600)`` / ``SELECT SLEEP(600)``) on the writer hangs when the writer
stops answering; EFM ends it within the detection time, failover moves the connection to the new writer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

import awsasyncwrap
from awsasyncwrap import AsyncAwsConnection, TransactionResolutionUnknownError
from awsasyncwrap.testbed import Instance, Testbed

from ._helpers import (
    DETECTION,
    SLACK,
    connect,
    monitor_of,
    mysql_running,
    mysql_terminate,
    pg_running,
    pg_terminate,
    until,
)

pytestmark = [pytest.mark.timeout(90), pytest.mark.cluster]


@dataclass
class Engine:
    """The engine-specific bits of these tests."""

    tb: Testbed

    @property
    def pg(self) -> bool:
        return self.tb.engine == "postgres"

    @property
    def sleep_600(self) -> str:
        return "SELECT " + self.sleep_fragment

    @property
    def sleep_fragment(self) -> str:
        return "pg_sleep(600)" if self.pg else "SLEEP(600)"

    async def connect(self, inst: Instance, **props: Any) -> AsyncAwsConnection:
        return await connect(self.tb, inst, **props)

    async def running(self, inst: Instance, fragment: str) -> bool:
        return await (pg_running if self.pg else mysql_running)(self.tb, inst, fragment)

    async def cursor(self, conn: AsyncAwsConnection) -> Any:
        return await conn.cursor()  # awaitable for either style

    async def is_writer(self, conn: AsyncAwsConnection) -> bool:
        cur = await self.cursor(conn)
        await cur.execute("SELECT pg_is_in_recovery()" if self.pg else "SELECT @@read_only")
        row = await cur.fetchone()
        return row is not None and not row[0]

    async def cleanup(self) -> None:
        self.tb.net("all", "pass")
        await (pg_terminate if self.pg else mysql_terminate)(
            self.tb, "SLEEP(" if not self.pg else "pg_sleep("
        )


@pytest.fixture
async def engine(cluster_testbed: Testbed) -> AsyncIterator[Engine]:
    eng = Engine(cluster_testbed)
    yield eng
    await eng.cleanup()
    await awsasyncwrap.release_resources()


async def test_blackholed_writer_fails_over_to_the_new_writer(engine: Engine) -> None:
    tb = engine.tb
    old = tb.writer
    # EFM's own detection (the writer check, which would end the call sooner, has its own tests)
    conn = await engine.connect(
        old, plugins="failover,host_monitoring", failover_timeout_sec=30, stuck_call_topology_check_ms=0
    )
    try:
        cur = await engine.cursor(conn)
        await cur.execute("SELECT 1")
        monitor = monitor_of(conn)
        start = time.monotonic()
        call = asyncio.create_task(cur.execute(engine.sleep_600))
        await until(lambda: engine.running(old, engine.sleep_fragment))
        tb.net(old, "blackhole")  # the writer stops answering: the app's call hangs ...
        report = await tb.failover()  # ... and a reader is promoted (the old writer is killed)
        new = tb.instance(report.new_writer)
        # the hung call had been sent: its outcome is unknown (also the driver's OperationalError)
        with pytest.raises(TransactionResolutionUnknownError) as info:
            await asyncio.wait_for(call, 60)
        elapsed = time.monotonic() - start
        assert isinstance(info.value, conn.plugin_service.driver_dialect.operational_error_class())
        assert monitor.declared_dead == 1 and monitor.failed_probes >= 2
        assert elapsed <= DETECTION + SLACK + 5, elapsed  # detection, then the failover plugin's reconnect
        assert conn.current_host is not None and conn.current_host.host == new.address[0]
        assert await engine.is_writer(conn)  # the app is on the new writer, through the same connection
        assert monitor_of(conn).host.host == new.address[0]  # and EFM now watches the new writer
    finally:
        await conn.close()


async def test_call_on_blackholed_writer_fails_within_detection_time_with_failover_on(
    engine: Engine,
) -> None:
    tb = engine.tb
    old = tb.writer
    conn = await engine.connect(old, plugins="failover,host_monitoring", failover_timeout_sec=2)
    try:
        cur = await engine.cursor(conn)
        start = time.monotonic()
        call = asyncio.create_task(cur.execute(engine.sleep_600))
        await until(lambda: engine.running(old, engine.sleep_fragment))
        tb.net(old, "blackhole")
        await until(lambda: monitor_of(conn).declared_dead == 1, timeout=DETECTION + SLACK + 5, every=0.005)
        assert time.monotonic() - start <= DETECTION + SLACK
        with pytest.raises(conn.plugin_service.driver_dialect.operational_error_class()):
            await asyncio.wait_for(call, 60)
    finally:
        await conn.close()
