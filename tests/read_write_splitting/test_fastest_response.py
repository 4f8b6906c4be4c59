"""fastest_response: one measuring task per cluster picks the reader that answers fastest."""

from __future__ import annotations

import math
from typing import Any

import anyio
import pytest

from awsasyncwrap import AsyncAwsConnection, ConfigurationError, release_resources
from awsasyncwrap.plugins.fastest_response import FastestResponseStrategyPlugin, ResponseTimeMonitor
from awsasyncwrap.testbed import Instance

from ._helpers import Db, plugin_of, until, wrapper_tasks

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]

PROPS: dict[str, Any] = {
    "plugins": "read_write_splitting,fastest_response_strategy,failover",
    "reader_host_selector_strategy": "fastest_response",
    "response_measurement_interval_ms": 100,
}
DELAY = "delay:60"


def monitor_of(conn: AsyncAwsConnection) -> ResponseTimeMonitor:
    monitor = plugin_of(conn, FastestResponseStrategyPlugin).monitor
    assert monitor is not None
    return monitor


def measuring_tasks() -> list[str]:
    return [t.get_name() for t in wrapper_tasks() if "fastest-response" in t.get_name()]


async def _measured(conn: AsyncAwsConnection, slow: Instance, fast: Instance) -> None:
    """Wait for a measurement round that saw ``slow`` slower than ``fast``."""
    monitor = monitor_of(conn)
    hosts = {h.host_id: h for h in conn.plugin_service.hosts}
    with anyio.fail_after(20):
        while True:
            await monitor.wait_round()
            fast_time = monitor.response_time(hosts[fast.id])
            if fast_time < monitor.response_time(hosts[slow.id]) and not math.isinf(fast_time):
                return


async def test_picks_the_fastest_reader_and_follows_changes(db: Db) -> None:
    slow, fast = db.tb.readers
    db.tb.net(slow, DELAY)
    a = await db.connect(**PROPS)
    try:
        await _measured(a, slow, fast)
        await a.set_read_only(True)
        assert await db.host_id(a) == fast.id
        db.tb.net(slow, "pass")
        db.tb.net(fast, DELAY)
        await _measured(a, fast, slow)  # roles swapped
        b = await db.connect(**PROPS)
        try:
            assert monitor_of(b) is monitor_of(a)  # one monitor per cluster
            await b.set_read_only(True)
            assert await db.host_id(b) == slow.id
            assert len(measuring_tasks()) == 1
        finally:
            await b.close()
    finally:
        await a.close()
    await until(lambda: not measuring_tasks(), timeout=10)  # last user gone: the task stops


async def test_release_resources_stops_the_measuring_task(db: Db) -> None:
    conn = await db.connect(**PROPS, monitor_disposal_time_ms=60_000)
    monitor = monitor_of(conn)
    with anyio.fail_after(20):
        await monitor.wait_round()
    assert measuring_tasks()
    await conn.close()
    assert measuring_tasks()  # disposal delay: it would outlive the connection for a minute
    await release_resources()
    assert monitor.closed and not measuring_tasks()


async def test_the_plugin_needs_the_fastest_response_strategy(db: Db) -> None:
    with pytest.raises(ConfigurationError, match="reader_host_selector_strategy"):
        await db.connect(**{**PROPS, "reader_host_selector_strategy": "random"})
