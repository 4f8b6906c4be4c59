"""The topology monitor's writer check of calls stuck on the writer, with a scripted fake cluster: the
verdict, the rate limit, one check at a time, the end of an episode. Against real servers and real
faults: tests/failover/test_stuck_calls.py."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import pytest_asyncio

import polling
from awsasyncwrap import HostInfo, HostRole, Properties
from awsasyncwrap.dialects import get_dialect
from awsasyncwrap.dialects._topology import TopologyEntry
from awsasyncwrap.topology import ClusterTopologyMonitor, HostMapper, Topology
from awsasyncwrap.topology._writer_check import CheckAnswer, Verdict, judge

from .fakedriver import FakeConnection, FakeDriverDialect, FakeOperationalError, fake_connect

pytestmark = pytest.mark.timeout(20)

IDS = ("a", "b", "c")
MAPPER = HostMapper("?.example", 5432)
PERIOD = 0.1  # stuck_call_topology_check_ms
PROPS = {
    "topology_query": "TOPOLOGY",
    "is_reader_query": "IS_READER",
    "host_id_query": "HOST_ID",
    "cluster_topology_refresh_rate_ms": 60_000,
    "cluster_topology_high_refresh_rate_ms": 10,
    "cluster_topology_query_timeout_ms": 300,
    "stuck_call_topology_check_ms": int(PERIOD * 1000),
}


def host(host_id: str) -> HostInfo:
    return MAPPER.host(host_id, HostRole.UNKNOWN)


# --- the verdict ----------------------------------------------------------------------------------------


def test_verdict() -> None:
    a, b, c = (host(i) for i in IDS)
    assert judge(a, [CheckAnswer(b, True, a), CheckAnswer(c, True, a)]) == (Verdict.UNCHANGED, None)
    assert judge(a, [CheckAnswer(b, None), CheckAnswer(c, None)]) == (Verdict.UNCHANGED, None)
    assert judge(a, []) == (Verdict.UNCHANGED, None)
    # a table names b, but b still is a reader: a failover may be in progress
    assert judge(a, [CheckAnswer(b, True, a), CheckAnswer(c, True, b)]) == (Verdict.PENDING, None)
    # b is writable, but no table names it yet
    assert judge(a, [CheckAnswer(b, False, a), CheckAnswer(c, True, a)]) == (Verdict.PENDING, None)
    # b is writable and named: the writer changed (its own table is enough)
    assert judge(a, [CheckAnswer(b, False, b), CheckAnswer(c, None)]) == (Verdict.CHANGED, b)
    assert judge(a, [CheckAnswer(b, False, a), CheckAnswer(c, True, b)]) == (Verdict.CHANGED, b)
    # the suspect itself never counts, whatever it says
    assert judge(a, [CheckAnswer(a, False, a)]) == (Verdict.UNCHANGED, None)


# --- the monitor, scripted cluster --------------------------------------------------------------------


class ClusterDriver(FakeDriverDialect):
    """Each instance answers the is-reader and topology queries as scripted; a hung one never answers."""

    def __init__(self) -> None:
        self.is_reader = {"a": False, "b": True, "c": True}
        self.names = {"a": "a", "b": "a", "c": "a"}  # the writer each instance's topology names
        self.hung: set[str] = set()
        self.queries: Counter[str] = Counter()
        self.opened: list[FakeConnection] = []
        self._waiting: dict[int, asyncio.Future[None]] = {}

    async def connect(self, target: Any, host_info: HostInfo, props: Any) -> Any:
        conn = FakeConnection(host=host_info.host)
        self.opened.append(conn)
        return conn

    async def query(self, conn: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        if conn.closed:
            raise FakeOperationalError("connection closed")
        node = conn.kwargs["host"].split(".")[0]
        self.queries[node] += 1
        if node in self.hung:
            fut = self._waiting[id(conn)] = asyncio.get_running_loop().create_future()
            await fut
        if sql == "IS_READER":
            return [(self.is_reader[node],)]
        if sql == "HOST_ID":
            return [(node,)]
        writer = self.names[node]
        return [(i, i == writer, 0.0, 0.0, None) for i in IDS]

    def abort(self, conn: Any) -> None:
        conn.closed = True
        fut = self._waiting.pop(id(conn), None)
        if fut is not None and not fut.done():
            fut.set_exception(FakeOperationalError("socket shut down"))


@pytest_asyncio.fixture(loop_scope="session")
async def driver() -> ClusterDriver:
    return ClusterDriver()


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


@pytest_asyncio.fixture(loop_scope="session")
async def monitor(driver: ClusterDriver) -> AsyncIterator[ClusterTopologyMonitor]:
    mon = new_monitor(driver)
    try:
        yield mon
    finally:
        await mon.aclose()


until = functools.partial(polling.until, timeout=5.0, every=0.002)


async def test_unchanged_writer_changes_nothing(
    monitor: ClusterTopologyMonitor, driver: ClusterDriver
) -> None:
    monitor.report_stuck_calls(host("a"))
    assert monitor.writer_check_running
    await until(lambda: not monitor.writer_check_running)  # no further report: the episode ends
    assert monitor.writer_checks == 1 and monitor.writer_changes_found == 0
    assert monitor.verification_rounds == 0 and not monitor.high_rate
    assert driver.queries == {"b": 2, "c": 2}  # is-reader + topology on each other instance, none on a
    assert driver.opened and all(c.closed for c in driver.opened)  # the episode's connections are closed
    assert monitor.topology is not None and monitor.topology.writer == host("a")


async def test_reports_on_other_hosts_are_ignored(
    monitor: ClusterTopologyMonitor, driver: ClusterDriver
) -> None:
    monitor.report_stuck_calls(host("b"))  # a reader
    monitor.report_stuck_calls(HostInfo("elsewhere.example", 5432))
    assert not monitor.writer_check_running and monitor.writer_checks == 0
    off = new_monitor(driver, stuck_call_topology_check_ms=0)
    try:
        off.report_stuck_calls(host("a"))
        assert not off.writer_check_running and off.writer_checks == 0
    finally:
        await off.aclose()


async def test_one_check_at_a_time_at_most_once_per_period(
    monitor: ClusterTopologyMonitor, driver: ClusterDriver
) -> None:
    start = time.monotonic()
    while time.monotonic() - start < PERIOD * 3.5:  # reports far more often than the period
        monitor.report_stuck_calls(host("a"))
        assert sum(1 for t in asyncio.all_tasks() if "writer-check" in t.get_name()) <= 1
        await asyncio.sleep(0.005)
    await until(lambda: not monitor.writer_check_running)
    assert 3 <= monitor.writer_checks <= 5, monitor.writer_checks
    assert len(driver.opened) == 2  # the connections were kept for the whole episode
    assert all(c.closed for c in driver.opened)
    assert monitor.verification_rounds == 0


async def test_new_writer_is_verified_and_published(
    monitor: ClusterTopologyMonitor, driver: ClusterDriver
) -> None:
    changes: list[tuple[str | None, str | None]] = []
    monitor.add_writer_listener(lambda old, new: changes.append((old.host_id, new.host_id)))
    driver.hung.add("a")  # the old writer hangs
    driver.is_reader["b"] = False  # b was promoted
    driver.names.update(b="b", c="b")
    monitor.report_stuck_calls(host("a"))
    await until(lambda: changes == [("a", "b")])
    assert monitor.writer_changes_found == 1 and monitor.verification_rounds >= 1
    topo = monitor.topology
    assert topo is not None and topo.writer == host("b") and topo.verified_at is not None
    await until(lambda: not monitor.writer_check_running)


async def test_a_failover_in_progress_is_checked_again_soon(
    monitor: ClusterTopologyMonitor, driver: ClusterDriver
) -> None:
    driver.hung.add("a")
    driver.names["c"] = "b"  # c already names b, b is not writable yet
    monitor.report_stuck_calls(host("a"))  # one report only: the quick checks need no more
    await until(lambda: monitor.writer_checks >= 2)
    assert monitor.writer_changes_found == 0
    driver.is_reader["b"] = False
    # found without another report: a pending verdict is checked again at the high rate by itself
    await until(lambda: monitor.writer_changes_found == 1)
    await until(lambda: monitor.topology is not None and monitor.topology.writer == host("b"))


async def test_a_hung_instance_does_not_hold_the_check_up(
    monitor: ClusterTopologyMonitor, driver: ClusterDriver
) -> None:
    driver.hung.add("c")
    monitor.report_stuck_calls(host("a"))
    await until(lambda: not monitor.writer_check_running)
    assert monitor.writer_checks == 1 and monitor.writer_changes_found == 0
    assert all(c.closed for c in driver.opened)  # c's was aborted after the query timeout


async def test_close_during_a_check_leaves_nothing(driver: ClusterDriver) -> None:
    mon = new_monitor(driver)
    driver.hung.update({"b", "c"})
    mon.report_stuck_calls(host("a"))
    await until(lambda: len(driver.opened) == 2 and sum(driver.queries.values()) == 2)
    await mon.aclose()
    assert not mon.writer_check_running and mon.task_count == 0
    assert all(c.closed for c in driver.opened)


def test_same_instance_by_id_else_by_any_alias() -> None:
    a = HostInfo("db-1.cluster.example", 5432, host_id="db-1")
    assert a.same_instance(HostInfo("10.0.0.7", 5432, host_id="db-1"))  # the id decides
    assert not a.same_instance(HostInfo("10.0.0.8", 5432, host_id="db-2"))
    assert not a.same_instance(None)
    aliased = HostInfo("10.0.0.7", 5432, aliases={"db-1.cluster.example:5432"})
    assert aliased.same_instance(HostInfo("db-1.cluster.example", 5432))  # no id: a shared alias
