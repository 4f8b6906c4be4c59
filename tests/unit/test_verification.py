"""The topology monitor's verification without a fixed polling period, with a scripted fake cluster: the
poll schedule, the spare connections (opened once, idle in the steady state, reused by a verification and
by the writer check), a stale spare, and the failover's early connects. Against real servers and real
crashes: tests/failover/test_crash_tail.py."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import anyio
import pytest

import polling
from awsasyncwrap import HostInfo, HostRole, Properties
from awsasyncwrap.dialects import get_dialect
from awsasyncwrap.dialects._topology import TopologyEntry
from awsasyncwrap.plugins.failover._race import MAX_RACING, EarlyConnects
from awsasyncwrap.plugins.failover._search import VERIFIED_FRESH, role_check_needed
from awsasyncwrap.topology import ClusterTopologyMonitor, HostMapper, Topology
from awsasyncwrap.topology._schedule import (
    DISCOVERY_AFTER,
    FIRST_PAUSE,
    GROWTH,
    Backoff,
    probe_pause,
    reconnect_pause,
)

from .fakedriver import FakeConnection, FakeDriverDialect, FakeOperationalError, fake_connect

pytestmark = pytest.mark.timeout(20)

IDS = ("a", "b", "c")
MAPPER = HostMapper("?.example", 5432)
#: a high rate far longer than any wait below: a verification that waited one period would time out
SLOW_HIGH_RATE_MS = 30_000
PROPS = {
    "topology_query": "TOPOLOGY",
    "is_reader_query": "IS_READER",
    "host_id_query": "HOST_ID",
    "cluster_topology_refresh_rate_ms": 60_000,
    "cluster_topology_high_refresh_rate_ms": SLOW_HIGH_RATE_MS,
    "cluster_topology_query_timeout_ms": 1_000,
    "stuck_call_topology_check_ms": 50,
}

until = functools.partial(polling.until, timeout=5.0, every=0.002)


def host(host_id: str) -> HostInfo:
    return MAPPER.host(host_id, HostRole.UNKNOWN)


# --- pure logic -----------------------------------------------------------------------------------------


def test_probe_pause_grows_with_the_age_of_the_verification() -> None:
    assert probe_pause(0.0, 0.1) == FIRST_PAUSE
    assert probe_pause(0.08, 0.1) == pytest.approx(FIRST_PAUSE)
    assert probe_pause(0.2, 0.1) == pytest.approx(0.2 * GROWTH)
    assert probe_pause(0.8, 0.1) == pytest.approx(0.05)
    assert probe_pause(5.0, 0.1) == 0.1  # never slower than the high rate
    assert probe_pause(0.0, 0.001) == 0.001  # nor than a high rate below the floor


def test_a_refused_probe_reconnects_within_the_discovery_bound() -> None:
    assert reconnect_pause(0.1) == DISCOVERY_AFTER == 0.1
    assert reconnect_pause(2.0) == DISCOVERY_AFTER  # a slow high rate does not delay discovery
    assert reconnect_pause(0.02) == 0.02  # nor is a faster one slowed down


def test_a_failover_skips_the_role_check_only_for_a_fresh_verdict() -> None:
    now = 100.0
    assert not role_check_needed(now, now)
    assert not role_check_needed(now - VERIFIED_FRESH / 2, now)
    assert role_check_needed(now - VERIFIED_FRESH * 1.01, now)  # older than 0.1 s: ask the connection
    assert role_check_needed(now - 5.0, now)
    assert role_check_needed(None, now)  # never verified
    assert role_check_needed(now + 1.0, now)  # a clock that does not add up: ask


def test_spare_backoff_doubles_up_to_the_cap_and_resets_on_success() -> None:
    backoff = Backoff(0.25, 1.0)
    assert backoff.due("h", 0.0)
    backoff.failed("h", 0.0)  # next try after 0.25
    assert not backoff.due("h", 0.2) and backoff.due("h", 0.25)
    backoff.failed("h", 0.25)  # 0.5
    assert not backoff.due("h", 0.7) and backoff.due("h", 0.75)
    backoff.failed("h", 0.75)  # 1.0
    backoff.failed("h", 1.75)  # 2.0, capped at 1.0
    assert not backoff.due("h", 2.7) and backoff.due("h", 2.75)
    backoff.succeeded("h")
    backoff.failed("h", 3.0)  # starts over
    assert backoff.due("h", 3.25)
    backoff.forget(set())
    assert backoff.due("h", 3.0)


# --- the monitor, scripted cluster --------------------------------------------------------------------


class ClusterDriver(FakeDriverDialect):
    """Instances answer as scripted; a dead one refuses connects and breaks its open connections."""

    def __init__(self) -> None:
        self.is_reader = {"a": False, "b": True, "c": True}
        self.dead: set[str] = set()
        #: instances whose queries get no answer until their connection is aborted
        self.hung: set[str] = set()
        self.abort_events: dict[int, asyncio.Event] = {}
        self.queries: Counter[str] = Counter()
        self.opened: Counter[str] = Counter()
        self.conns: list[FakeConnection] = []

    async def connect(self, target: Any, host_info: HostInfo, props: Any) -> Any:
        node = host_info.host.split(".")[0]
        await asyncio.sleep(0)
        if node in self.dead:
            raise FakeOperationalError(f"connection to {node} refused")
        self.opened[node] += 1
        conn = FakeConnection(host=host_info.host)
        self.conns.append(conn)
        return conn

    async def query(self, conn: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        node = conn.kwargs["host"].split(".")[0]
        if conn.closed or node in self.dead:
            conn.closed = True
            raise FakeOperationalError("connection lost")
        self.queries[node] += 1
        await asyncio.sleep(0)
        if node in self.hung and not conn.closed:
            await self._aborted(conn).wait()  # a socket that only an abort ends
        if conn.closed:
            raise FakeOperationalError("connection aborted")
        if sql == "IS_READER":
            return [(self.is_reader[node],)]
        if sql == "HOST_ID":
            return [(node,)]
        writer = next(i for i in IDS if not self.is_reader[i])
        return [(i, i == writer, 0.0, 0.0, None) for i in IDS]

    def abort(self, conn: Any) -> None:
        conn.closed = True
        self._aborted(conn).set()

    def _aborted(self, conn: Any) -> asyncio.Event:
        return self.abort_events.setdefault(id(conn), asyncio.Event())

    def open_to(self, node: str) -> list[FakeConnection]:
        return [c for c in self.conns if not c.closed and c.kwargs["host"].startswith(f"{node}.")]


def new_monitor(driver: ClusterDriver, **props: Any) -> ClusterTopologyMonitor:
    monitor = ClusterTopologyMonitor(
        "fake-cluster",
        driver,
        get_dialect("aurora-pg"),  # type: ignore[arg-type]
        fake_connect,
        Properties({**PROPS, **props}),
        host("a"),
        MAPPER,
    )
    monitor.seed(Topology(MAPPER.build([TopologyEntry(i, i == "a") for i in IDS])))
    return monitor


async def started_with_spares(driver: ClusterDriver, **props: Any) -> ClusterTopologyMonitor:
    monitor = new_monitor(driver, **props)
    monitor.ensure_started()
    await until(lambda: monitor.monitoring_host is not None and len(monitor._spares) == 2)
    return monitor


async def test_spares_are_opened_once_and_stay_idle_in_the_steady_state() -> None:
    """A spare runs its first query as it opens, then nothing until a verification needs it."""
    driver = ClusterDriver()
    monitor = await started_with_spares(driver, cluster_topology_refresh_rate_ms=20)
    try:
        await until(lambda: driver.queries["a"] >= 10)  # a few normal refreshes on the writer
        assert set(monitor._spares) == {host("b").url, host("c").url}
        # one is-reader query when it opened (the server session warm), none since
        assert driver.queries["b"] == driver.queries["c"] == 1
        assert driver.opened == Counter({"a": 1, "b": 1, "c": 1})  # and no reconnects
        assert monitor.queries_run == sum(driver.queries.values())
    finally:
        await monitor.aclose()
    assert all(c.closed for c in driver.conns)


async def test_a_promotion_is_found_without_waiting_for_the_high_rate_period() -> None:
    driver = ClusterDriver()
    monitor = await started_with_spares(driver)
    spare_c = monitor._spares[host("c").url]
    try:
        driver.dead.add("a")  # the writer crashes; b is promoted a little later
        failed_at = time.monotonic()
        monitor.request_verification(failed_at, host("a"))
        await until(lambda: driver.queries["b"] >= 3)  # b polled a few times as a reader
        driver.is_reader.update(a=True, b=False)
        with anyio.fail_after(5):  # one 30 s high-rate period would time out
            topo = await monitor.wait_for_writer(failed_at, SLOW_HIGH_RATE_MS / 1000)
        assert topo is not None and topo.writer is not None and topo.writer.host_id == "b"
        assert driver.opened["b"] == 1  # found on its spare, no new connection
        await until(lambda: monitor._spares.get(host("c").url) is spare_c)  # c's spare kept, idle again
        assert not spare_c.closed
    finally:
        await monitor.aclose()


async def test_a_stale_spare_is_replaced_at_once() -> None:
    driver = ClusterDriver()
    monitor = await started_with_spares(driver)
    try:
        for node in ("b", "c"):
            for conn in driver.open_to(node):
                conn.closed = True  # idle connections the server dropped meanwhile
        driver.dead.add("a")
        driver.is_reader.update(a=True, b=False)
        failed_at = time.monotonic()
        monitor.request_verification(failed_at, host("a"))
        with anyio.fail_after(5):  # no pause of a period after the stale spare failed
            topo = await monitor.wait_for_writer(failed_at, SLOW_HIGH_RATE_MS / 1000)
        assert topo is not None and topo.writer is not None and topo.writer.host_id == "b"
        assert driver.opened["b"] == 2
    finally:
        await monitor.aclose()


async def test_the_writer_check_asks_on_the_spares_and_leaves_them_open() -> None:
    driver = ClusterDriver()
    monitor = await started_with_spares(driver)
    spares = dict(monitor._spares)
    try:
        monitor.report_stuck_calls(host("a"))
        await until(lambda: monitor.writer_checks >= 1 and not monitor.writer_check_running)
        # is-reader and topology, once each (after the is-reader each ran as it opened)
        assert driver.queries["b"] == driver.queries["c"] == 3
        assert driver.opened == Counter({"a": 1, "b": 1, "c": 1})  # no connection of its own
        assert monitor._spares == spares and not any(c.closed for c in spares.values())
    finally:
        await monitor.aclose()
    assert all(c.closed for c in driver.conns)


async def test_the_writer_check_acts_on_the_first_answer_naming_a_new_writer() -> None:
    """The old writer hangs, b was promoted, c does not answer: the new writer is published at b's answer,
    not after c's query timeout (10 s here)."""
    driver = ClusterDriver()
    monitor = await started_with_spares(driver, cluster_topology_query_timeout_ms=10_000)
    try:
        driver.hung.update({"a", "c"})
        driver.is_reader.update(a=True, b=False)
        reported_at = time.monotonic()
        monitor.report_stuck_calls(host("a"))
        with anyio.fail_after(5):  # c's timeout would be 10 s
            topo = await monitor.wait_for_writer(reported_at, 5)
        assert topo is not None and topo.writer is not None and topo.writer.host_id == "b"
        assert monitor.writer_changes_found == 1
    finally:
        await monitor.aclose()
    assert not monitor.writer_check_running


async def test_a_spare_to_a_host_that_refuses_is_retried_with_backoff() -> None:
    driver = ClusterDriver()
    driver.dead.add("c")
    monitor = new_monitor(
        driver, cluster_topology_refresh_rate_ms=10, cluster_topology_high_refresh_rate_ms=10
    )
    monitor.ensure_started()
    try:
        await until(lambda: host("b").url in monitor._spares)
        await asyncio.sleep(0.3)  # ~30 refreshes; tries at 10, 20, 40, 80, 160 ms backoff: a handful
        assert host("c").url not in monitor._spares
        driver.dead.discard("c")
        await until(lambda: host("c").url in monitor._spares)
        assert driver.opened["c"] == 1
    finally:
        await monitor.aclose()


# --- early connects of a failover ------------------------------------------------------------------


class Opened:
    def __init__(self, url: str) -> None:
        self.url = url
        self.disposed = False


async def test_early_connects_hand_out_the_writer_and_dispose_of_the_rest() -> None:
    release = asyncio.Event()

    async def connect(h: HostInfo, limit: float) -> Opened:
        if h.host_id == "c":
            await release.wait()  # still connecting when the failover ends
        return Opened(h.url)

    async def dispose(conn: Opened) -> None:
        conn.disposed = True

    cluster = Opened("cluster")
    early = EarlyConnects(cluster, [host("b"), host("c")], connect, dispose, 5.0)
    assert early.active
    got = await early.take(host("b"), 1.0)
    assert isinstance(got, Opened) and got.url == host("b").url
    assert await early.take(host("a"), 0.1) is None  # not connected early: the caller connects itself
    await early.aclose()
    assert not got.disposed  # taken: the caller's now
    release.set()


async def test_early_connect_finishing_as_it_is_cancelled_is_disposed_of() -> None:
    """A connect that completes just as the failover ends (the cancellation arrives with the connection)
    hands its connection to aclose(), which disposes of it (asyncio.wait_for in 3.11 dropped it, open)."""
    started = asyncio.Event()
    opened: list[Opened] = []

    async def connect(h: HostInfo, limit: float) -> Opened:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            opened.append(Opened(h.url))  # the driver had the connection when the cancellation came
            return opened[-1]
        raise AssertionError("not cancelled")

    async def dispose(conn: Opened) -> None:
        conn.disposed = True

    early = EarlyConnects(Opened("cluster-2"), [host("b")], connect, dispose, 5.0)
    await asyncio.wait_for(started.wait(), 5)
    await early.aclose()
    assert [c.disposed for c in opened] == [True]


async def test_early_connects_are_capped_per_cluster_and_failures_mean_none() -> None:
    async def connect(h: HostInfo, limit: float) -> Opened:
        raise FakeOperationalError("refused")

    async def dispose(conn: Opened) -> None:
        raise AssertionError("nothing to dispose of")

    cluster = Opened("cluster")
    racing = [EarlyConnects(cluster, [host("b")], connect, dispose, 5.0) for _ in range(MAX_RACING + 1)]
    assert [r.active for r in racing] == [True] * MAX_RACING + [False]
    assert await racing[0].take(host("b"), 1.0) is None
    for r in racing:
        await r.aclose()
    again = EarlyConnects(cluster, [host("b")], connect, dispose, 5.0)
    assert again.active  # the slots were freed
    await again.aclose()
