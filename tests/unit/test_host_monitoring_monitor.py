"""The shared host monitor task with a fake driver: parking, probing, declaring a host dead, surviving errors.

Pure logic only; the behaviour against real servers and real network faults is in tests/host_monitoring.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import pytest_asyncio

import polling
from awsasyncwrap import HostAvailability, HostInfo, Properties
from awsasyncwrap.plugins.host_monitoring import HostMonitor, MonitoredCall, MonitorSettings

from .fakedriver import FakeConnection, FakeDriverDialect, FakeOperationalError, fake_connect

pytestmark = pytest.mark.timeout(20)

SETTINGS = MonitorSettings(grace=0.1, interval=0.05, count=2)


class ProbeDriver(FakeDriverDialect):
    """Fake driver whose probe query is scripted: "ok", "fail" or "hang" (until aborted)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.aborted: list[Any] = []
        self.queries = 0
        self._hung: dict[int, asyncio.Future[None]] = {}

    async def query(self, conn: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        self.queries += 1
        if self.mode == "fail":
            raise FakeOperationalError("connection refused")
        if self.mode == "hang":
            fut = self._hung[id(conn)] = asyncio.get_running_loop().create_future()
            await fut
        return [(1,)]

    def abort(self, conn: Any) -> None:
        self.aborted.append(conn)
        fut = self._hung.pop(id(conn), None)
        if fut is not None and not fut.done():
            fut.set_exception(FakeOperationalError("socket shut down"))


class FakeService:
    def __init__(self, driver: ProbeDriver) -> None:
        self.driver_dialect = driver
        self.availability: list[tuple[frozenset[str], HostAvailability]] = []

    def set_availability(self, aliases: Any, availability: HostAvailability) -> None:
        self.availability.append((frozenset(aliases), availability))


HOST = HostInfo("db1.example", 5432, aliases={"db1-alias:5432"})


@pytest_asyncio.fixture(loop_scope="session")
async def driver() -> ProbeDriver:
    return ProbeDriver()


@pytest_asyncio.fixture(loop_scope="session")
async def monitor(driver: ProbeDriver) -> AsyncIterator[HostMonitor]:
    mon = HostMonitor(HOST, SETTINGS, driver, fake_connect, Properties(password="s3cret"))
    try:
        yield mon
    finally:
        await mon.aclose()


def register(monitor: HostMonitor, conn: Any, service: Any) -> MonitoredCall:
    call = MonitoredCall(conn, service)
    monitor.calls.add(call)
    if not monitor.armed:
        monitor.arm()
    return call


until = functools.partial(polling.until, timeout=5.0, every=0.005)


async def test_parks_when_nothing_is_in_flight(monitor: HostMonitor) -> None:
    await until(lambda: monitor.state == "idle")
    await asyncio.sleep(SETTINGS.grace * 3)
    assert monitor.wakeups == 0 and monitor.probes == 0
    call = register(monitor, FakeConnection(), FakeService(ProbeDriver()))
    monitor.calls.remove(call)
    await until(lambda: monitor.state == "idle" and not monitor.armed)
    assert monitor.wakeups <= 3 and monitor.probes == 0


async def test_back_to_back_calls_wake_the_monitor_once_per_grace_period(monitor: HostMonitor) -> None:
    service, conn = FakeService(ProbeDriver()), FakeConnection()
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < SETTINGS.grace * 5:
        call = register(monitor, conn, service)
        await asyncio.sleep(0)
        monitor.calls.remove(call)
        n += 1
    elapsed = time.monotonic() - start
    assert n > 1000
    assert monitor.probes == 0
    assert monitor.wakeups <= elapsed / SETTINGS.grace * 2 + 2, (monitor.wakeups, n)


async def test_healthy_host_is_probed_but_nothing_is_aborted(
    monitor: HostMonitor, driver: ProbeDriver
) -> None:
    service, conn = FakeService(driver), FakeConnection()
    call = register(monitor, conn, service)
    await until(lambda: monitor.probes >= 4)
    assert monitor.state == "probing"
    assert not call.aborted and driver.aborted == [] and service.availability == []
    assert monitor.failed_probes == 0
    monitor.calls.remove(call)
    await until(lambda: monitor.state in ("idle", "waiting"))
    await until(lambda: not monitor._probe_conn.is_open)


@pytest.mark.parametrize("mode", ["fail", "hang"])
async def test_dead_host_aborts_every_connection_in_use(
    monitor: HostMonitor, driver: ProbeDriver, mode: str
) -> None:
    driver.mode = mode
    service_a, service_b = FakeService(driver), FakeService(driver)
    conn_a, conn_b = FakeConnection(), FakeConnection()
    start = time.monotonic()
    old = register(monitor, conn_a, service_a)
    await asyncio.sleep(SETTINGS.grace / 2)
    young = register(monitor, conn_b, service_b)
    also_a = register(monitor, conn_a, service_a)  # a second call on the same connection
    await until(lambda: old.aborted)
    elapsed = time.monotonic() - start
    assert elapsed < SETTINGS.detection_time + 0.2, elapsed
    assert young.aborted and also_a.aborted  # every call in flight on the host, not only the overdue one
    assert conn_a in driver.aborted and conn_b in driver.aborted
    assert [c for c in driver.aborted if c in (conn_a, conn_b)].count(conn_a) == 1
    expected = (HOST.all_aliases, HostAvailability.UNAVAILABLE)
    assert service_a.availability == [expected] and service_b.availability == [expected]
    assert monitor.declared_dead == 1 and monitor.failed_probes >= SETTINGS.count
    for call in (old, young, also_a):
        monitor.calls.remove(call)
    await until(lambda: monitor.state in ("idle", "waiting"))
    assert not monitor.task.done()


async def test_failed_probes_are_data_points_and_the_monitor_recovers(driver: ProbeDriver) -> None:
    settings = MonitorSettings(grace=0.05, interval=0.03, count=1000)
    mon = HostMonitor(HOST, settings, driver, fake_connect, Properties())
    try:
        driver.mode = "fail"
        call = register(mon, FakeConnection(), FakeService(driver))
        await until(lambda: mon.failed_probes >= 3)
        assert mon.consecutive_failures >= 2 and not mon.task.done()
        driver.mode = "ok"
        await until(lambda: mon.consecutive_failures == 0 and mon.probes > mon.failed_probes)
        assert not call.aborted and mon.declared_dead == 0 and mon.errors == 0
        mon.calls.remove(call)
    finally:
        await mon.aclose()


async def test_unexpected_error_is_logged_and_the_loop_goes_on(
    driver: ProbeDriver, caplog: pytest.LogCaptureFixture
) -> None:
    settings = MonitorSettings(grace=0.02, interval=0.02, count=1)
    mon = HostMonitor(HOST, settings, driver, fake_connect, Properties())

    def broken(failures: int) -> None:
        raise RuntimeError("bug in declare")

    mon._declare_dead = broken  # type: ignore[method-assign]
    try:
        driver.mode = "fail"
        call = register(mon, FakeConnection(), FakeService(driver))
        await until(lambda: mon.errors >= 2)
        assert not mon.task.done()
        assert any(
            "host_monitor:db1.example:5432" in r.getMessage() and r.levelname == "WARNING"
            for r in caplog.records
        )
        assert all("s3cret" not in r.getMessage() for r in caplog.records)
        mon.calls.remove(call)
    finally:
        await mon.aclose()
    assert mon.task.done()


async def test_aclose_during_a_hanging_probe_is_prompt(driver: ProbeDriver) -> None:
    settings = MonitorSettings(grace=0.01, interval=30.0, count=3)
    mon = HostMonitor(HOST, settings, driver, fake_connect, Properties())
    driver.mode = "hang"
    call = register(mon, FakeConnection(), FakeService(driver))
    await until(lambda: driver.queries >= 1)
    start = time.monotonic()
    await mon.aclose()
    assert time.monotonic() - start < 1.0
    assert mon.task.done() and not call.aborted
    assert not [t for t in asyncio.all_tasks() if "host_monitor:" in t.get_name()]


async def test_no_threads(driver: ProbeDriver) -> None:
    before = threading.active_count()
    names = {t.name for t in threading.enumerate()}
    mon = HostMonitor(HOST, MonitorSettings(0.01, 0.01, 2), driver, fake_connect, Properties())
    try:
        driver.mode = "fail"
        call = register(mon, FakeConnection(), FakeService(driver))
        await until(lambda: call.aborted)
    finally:
        await mon.aclose()
    assert threading.active_count() == before
    assert {t.name for t in threading.enumerate()} == names


async def test_host_is_marked_available_again_once_a_probe_succeeds(
    monitor: HostMonitor, driver: ProbeDriver
) -> None:
    driver.mode = "fail"
    service = FakeService(driver)
    call = register(monitor, FakeConnection(), service)
    await until(lambda: call.aborted)
    monitor.calls.remove(call)
    assert service.availability == [(HOST.all_aliases, HostAvailability.UNAVAILABLE)]
    driver.mode = "ok"
    later = register(monitor, FakeConnection(), service)
    await until(lambda: len(service.availability) == 2)
    assert service.availability[-1] == (HOST.all_aliases, HostAvailability.AVAILABLE)
    assert not later.aborted
    monitor.calls.remove(later)
