"""host_monitoring keeps no history: its cost does not grow with the number of calls ever made.

Guards against the competing wrapper's class of bug (a list of every call of the last 30 s, rebuilt
every 100 ms: throughput halves and single calls stall under sustained load). After 100,000 calls
through the real plugin (fake driver), the memory the package holds and the monitor's work per scan
depend only on the calls in flight.
"""

from __future__ import annotations

import asyncio
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

import awsasyncwrap
from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.plugins.host_monitoring import (
    HostMonitor,
    HostMonitoringPlugin,
    InFlightCalls,
    MonitoredCall,
)

from .fakedriver import fake_connect

pytestmark = pytest.mark.timeout(60)

CALLS = 100_000
#: The monitor wakes often (grace 20 ms) and probes in-flight calls every 10 ms; the fake host answers.
SETTINGS: dict[str, Any] = {
    "failure_detection_time_ms": 20,
    "failure_detection_interval_ms": 10,
    "failure_detection_count": 1000,
}


class CountingCalls(InFlightCalls):
    """In-flight calls that count how often they are scanned and how many calls each scan visits."""

    def __init__(self) -> None:
        super().__init__()
        self.scans = 0
        self.visited = 0
        self.most_in_one_scan = 0

    def __iter__(self) -> Iterator[MonitoredCall]:
        self.scans += 1
        for seen, call in enumerate(list(dict.__iter__(self)), 1):
            self.visited += 1
            self.most_in_one_scan = max(self.most_in_one_scan, seen)
            yield call


async def noop() -> None:
    return None


async def connect() -> tuple[AsyncAwsConnection, HostMonitoringPlugin, HostMonitor]:
    conn = AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(
            fake_connect, host="db1.example", plugins="host_monitoring", wrapper_dialect="pg", **SETTINGS
        )
    )
    (plugin,) = conn.plugin_service.plugins
    assert isinstance(plugin, HostMonitoringPlugin)
    await plugin.execute(conn, "Cursor.execute", noop)  # acquires the monitor
    monitor = plugin.monitor
    assert monitor is not None
    return conn, plugin, monitor


async def run_calls(plugin: HostMonitoringPlugin, conn: Any, count: int) -> None:
    """``count`` back-to-back calls, letting the event loop (and the monitor) run every 100 calls."""
    execute = plugin.execute
    for i in range(count):
        await execute(conn, "Cursor.execute", noop)
        if i % 100 == 0:
            await asyncio.sleep(0)


def package_memory(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes allocated by awsasyncwrap's own code (not by the fake driver or the test)."""
    traces = snapshot.filter_traces([tracemalloc.Filter(True, "*/awsasyncwrap/*")])
    return sum(stat.size for stat in traces.statistics("filename"))


@pytest.fixture(autouse=True)
async def _release() -> Any:
    yield
    await awsasyncwrap.release_resources()


async def test_a_hundred_thousand_calls_leave_nothing_behind() -> None:
    conn, plugin, monitor = await connect()
    try:
        await run_calls(plugin, conn, 1000)  # warm-up: lazily built things exist from now on
        empty_size = sys.getsizeof(monitor.calls)
        tracemalloc.start()
        try:
            before = package_memory(tracemalloc.take_snapshot())
            start = time.monotonic()
            await run_calls(plugin, conn, CALLS)
            elapsed = time.monotonic() - start
            after = package_memory(tracemalloc.take_snapshot())
        finally:
            tracemalloc.stop()
        assert after - before < 16 * 1024, (before, after)  # no per-call record outlives its call
        assert len(monitor.calls) == 0 and sys.getsizeof(monitor.calls) <= empty_size
        # woken at most about once per grace period, however many calls were made
        assert monitor.wakeups <= elapsed / 0.020 * 2 + 2, (monitor.wakeups, elapsed)
        assert monitor.probes == 0  # no call was ever overdue
    finally:
        await conn.close()


async def test_scans_visit_only_calls_in_flight_whatever_the_history() -> None:
    conn, plugin, monitor = await connect()
    counting = CountingCalls()
    monitor.calls = counting  # the plugin reads monitor.calls on every call
    stuck: list[asyncio.Task[Any]] = []
    try:
        in_flight = 5
        hang = asyncio.Event()
        stuck = [
            asyncio.create_task(plugin.execute(conn, "Cursor.execute", hang.wait)) for _ in range(in_flight)
        ]
        deadline = time.monotonic() + 5
        while len(counting) < in_flight:  # each registers at its first step
            assert time.monotonic() < deadline
            await asyncio.sleep(0.001)
        start = time.monotonic()
        await run_calls(plugin, conn, CALLS)  # meanwhile the 5 are overdue: the monitor probes and scans
        elapsed = time.monotonic() - start
        assert monitor.probes >= 2 and monitor.declared_dead == 0
        assert counting.scans > 0
        # a scan never looks past the calls in flight (at most the 5 stuck ones plus one short call) ...
        assert counting.most_in_one_scan <= in_flight + 1, counting.most_in_one_scan
        # ... and scans happen per probe interval, not per call
        assert counting.scans <= (elapsed / 0.010 + 2) * 3, (counting.scans, elapsed)
        assert sys.getsizeof(counting) <= sys.getsizeof(dict.fromkeys(range(16)))
        hang.set()
        await asyncio.gather(*stuck)
        assert len(counting) == 0
    finally:
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
        await conn.close()
