"""Stuck-call reports of the host monitor: the deadline logic with a fake clock, and the monitor's one timer
with a fake driver. Against real servers and real faults: tests/failover/test_stuck_calls.py."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

import polling
from awsasyncwrap import HostInfo, Properties
from awsasyncwrap.plugins.host_monitoring import HostMonitor, MonitoredCall, MonitorSettings
from awsasyncwrap.plugins.host_monitoring._stuck import StuckCallWatch

from .fakedriver import FakeConnection, FakeDriverDialect, fake_connect

pytestmark = pytest.mark.timeout(20)

HOST = HostInfo("db1.example", 5432)
#: no probing within a test (grace 60 s), stuck calls reported after 50 ms
SETTINGS = MonitorSettings(grace=60.0, interval=5.0, count=3, stuck=0.05)


# --- the deadline logic, fake clock ----------------------------------------------------------------------


def test_nothing_in_flight_is_never_reported() -> None:
    watch = StuckCallWatch(1.0)
    assert watch.step(100.0, None) == (False, 101.0)
    assert watch.step(101.0, None) == (False, 102.0)


def test_a_call_is_reported_once_it_is_older_than_the_threshold() -> None:
    watch = StuckCallWatch(1.0)
    assert watch.step(100.2, 100.0) == (False, 101.0)  # young: look again when it turns 1 s old
    assert watch.step(100.9999, 100.0) == (False, 101.0)
    assert watch.step(101.0, 100.0) == (True, 102.0)


def test_reports_repeat_at_most_once_per_threshold_while_the_call_stays_stuck() -> None:
    watch = StuckCallWatch(1.0)
    assert watch.step(101.5, 100.0) == (True, 102.5)
    assert watch.step(101.6, 100.0) == (False, 102.5)  # an early wake-up reports nothing
    assert watch.step(102.5, 100.0) == (True, 103.5)
    reports = [t / 10 for t in range(1025, 1200) if watch.step(t / 10, 100.0)[0]]
    assert reports == [t + 0.5 for t in range(103, 120)]  # once a second, never more


def test_a_new_oldest_call_gets_its_own_threshold() -> None:
    watch = StuckCallWatch(1.0)
    assert watch.step(101.0, 100.0)[0]
    # the stuck call ended; the oldest now started at 101.8: young until 102.8
    assert watch.step(102.0, 101.8) == (False, 102.8)
    assert watch.step(102.8, 101.8) == (True, 103.8)


def test_the_rate_limit_holds_across_calls() -> None:
    watch = StuckCallWatch(1.0)
    assert watch.step(101.0, 100.0)[0]
    # another call, already old, right after a report: not before one period after the last report
    assert watch.step(101.1, 99.0) == (False, 102.0)


# --- the monitor's timer, fake driver ---------------------------------------------------------------------


class FakeService:
    driver_dialect = FakeDriverDialect()


class Listener:
    """Records when it was called; can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.times: list[float] = []
        self.hosts: list[HostInfo] = []
        self.fail = fail
        self.called = asyncio.Event()

    def __call__(self, host: HostInfo) -> None:
        self.times.append(time.monotonic())
        self.hosts.append(host)
        self.called.set()
        if self.fail:
            raise RuntimeError("listener failed")


@pytest_asyncio.fixture(loop_scope="session")
async def monitor() -> AsyncIterator[HostMonitor]:
    mon = HostMonitor(HOST, SETTINGS, FakeDriverDialect(), fake_connect, Properties())
    try:
        yield mon
    finally:
        await mon.aclose()


def register(monitor: HostMonitor) -> MonitoredCall:
    call = MonitoredCall(FakeConnection(), FakeService())  # type: ignore[arg-type]
    monitor.calls.add(call)
    if not monitor.armed:
        monitor.arm()
    return call


until = functools.partial(polling.until, timeout=5.0, every=0.005)


async def test_listeners_hear_of_a_stuck_call_at_most_once_per_period(monitor: HostMonitor) -> None:
    listener = Listener()
    monitor.add_stuck_listener(listener)
    call = register(monitor)
    await until(lambda: len(listener.times) >= 4)
    monitor.calls.remove(call)
    assert listener.hosts[0] is HOST
    assert listener.times[0] - call.start >= SETTINGS.stuck
    gaps = [b - a for a, b in zip(listener.times, listener.times[1:], strict=False)]
    assert min(gaps) >= SETTINGS.stuck * 0.99, gaps
    assert monitor.stuck_reports == len(listener.times)
    assert monitor.probes == 0  # the grace time is far away: reports are not probes


async def test_no_report_once_the_call_ended(monitor: HostMonitor) -> None:
    listener = Listener()
    monitor.add_stuck_listener(listener)
    call = register(monitor)
    await asyncio.wait_for(listener.called.wait(), 5)
    monitor.calls.remove(call)
    reported = len(listener.times)
    await asyncio.sleep(SETTINGS.stuck * 5)  # observe a few periods without a stuck call
    assert len(listener.times) == reported
    short = register(monitor)  # a short call: younger than the threshold when it ends
    await asyncio.sleep(SETTINGS.stuck / 5)
    monitor.calls.remove(short)
    await asyncio.sleep(SETTINGS.stuck * 3)
    assert len(listener.times) == reported


async def test_no_timer_without_listeners_or_with_the_check_off() -> None:
    mon = HostMonitor(HOST, SETTINGS, FakeDriverDialect(), fake_connect, Properties())
    off = HostMonitor(
        HOST, MonitorSettings(60.0, 5.0, 3, stuck=0.0), FakeDriverDialect(), fake_connect, Properties()
    )
    try:
        register(mon)
        off.add_stuck_listener(listener := Listener())
        register(off)
        await until(lambda: mon.state == "waiting" and off.state == "waiting")
        await asyncio.sleep(SETTINGS.stuck * 3)
        assert mon._stuck_timer is None and off._stuck_timer is None
        assert mon.stuck_reports == 0 and off.stuck_reports == 0 and listener.times == []
    finally:
        await mon.aclose()
        await off.aclose()


async def test_listener_counts_and_failing_listeners(monitor: HostMonitor) -> None:
    failing, counted = Listener(fail=True), Listener()
    monitor.add_stuck_listener(failing)
    monitor.add_stuck_listener(counted)
    monitor.add_stuck_listener(counted)  # a second connection with the same listener
    monitor.remove_stuck_listener(counted)  # one of them leaves: still listening
    call = register(monitor)
    await until(lambda: len(counted.times) >= 2)  # a failing listener does not stop the others
    assert len(counted.times) >= 2 and len(failing.times) >= 2
    monitor.remove_stuck_listener(counted)
    monitor.remove_stuck_listener(failing)
    await until(lambda: monitor._stuck_timer is None)  # nobody listens: the timer stops by itself
    monitor.calls.remove(call)


async def test_close_stops_the_timer() -> None:
    mon = HostMonitor(HOST, SETTINGS, FakeDriverDialect(), fake_connect, Properties())
    listener = Listener()
    mon.add_stuck_listener(listener)
    register(mon)
    await asyncio.wait_for(listener.called.wait(), 5)
    await mon.aclose()
    assert mon._stuck_timer is None and mon.task.done()
    reported = len(listener.times)
    await asyncio.sleep(SETTINGS.stuck * 3)
    assert len(listener.times) == reported
