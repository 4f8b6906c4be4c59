"""The strict-writer failover's search, decided without I/O: each scenario on a simulated clock, no loop.

The same scenarios against real clusters: tests/failover/test_writer_failover.py, test_crash_tail.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from awsasyncwrap.hostinfo import HostInfo, HostRole
from awsasyncwrap.plugins.failover._steps import AwaitWriter, Connect, Fail, Found, Pause, Step
from awsasyncwrap.plugins.failover._writer_search_state import (
    FIRST_RETRY_PAUSE,
    VERIFIED_FRESH,
    WriterSearch,
    role_check_needed,
)
from awsasyncwrap.topology import Topology

pytestmark = pytest.mark.timeout(10)

T0 = 100.0  # when the failure was seen
TIMEOUT = 30.0
HIGH_RATE = 0.1
CONNECT_TAKES = 0.002


def host(name: str, role: HostRole = HostRole.READER) -> HostInfo:
    return HostInfo(name, 5432, role, host_id=name)


OLD, NEW, OTHER = "old", "new", "other"


def verified(writer: str, at: float, *, readers: tuple[str, ...] = (OLD, NEW, OTHER)) -> Topology:
    """A topology whose writer the monitor verified at ``at``."""
    hosts = (host(writer, HostRole.WRITER), *(host(r) for r in readers if r != writer))
    return Topology(hosts, at, at)


@dataclass
class Cluster:
    """What the monitor publishes (in time order) and how each host answers a failover's connect."""

    published: list[Topology]
    #: host -> answers a connect (and a role check, when asked) at time t
    accepts: Callable[[str, float, HostRole | None], bool] = lambda _h, _t, _want: True
    trace: list[Step] = field(default_factory=list)
    connects: list[tuple[str, HostRole | None]] = field(default_factory=list)

    def wait_for_writer(self, since: float, now: float, within: float) -> tuple[Topology | None, float]:
        """As ``ClusterTopologyMonitor.wait_for_writer``: the first topology verified since ``since``."""
        for topo in self.published:
            at = max(now, topo.read_at)
            if (
                topo.verified_at is not None
                and topo.verified_at >= since
                and topo.writer
                and at <= now + within
            ):
                return topo, at
        return None, now + within


def drive(search: WriterSearch, cluster: Cluster, now: float = T0) -> tuple[Step, float]:
    """Run ``search`` against ``cluster`` the way ``HostSearch._to_writer`` does; the final step and time."""
    step = search.next_round(now)
    while True:
        cluster.trace.append(step)
        if isinstance(step, AwaitWriter):
            topo, now = cluster.wait_for_writer(step.since, now, step.within)
            step = search.on_topology(topo, now)
        elif isinstance(step, Connect):
            now += CONNECT_TAKES
            cluster.connects.append((step.host.host, step.want))
            step = search.on_connected(cluster.accepts(step.host.host, now, step.want), now)
        elif isinstance(step, Pause):
            now += step.seconds
            step = search.next_round(now)
        else:
            return step, now


def new_search(**kwargs: object) -> WriterSearch:
    return WriterSearch(T0, T0 + TIMEOUT, TIMEOUT, HIGH_RATE, **kwargs)  # type: ignore[arg-type]


def test_writer_crash_with_a_reader_promoted() -> None:
    cluster = Cluster([verified(NEW, T0 + 0.04)])
    step, at = drive(new_search(), cluster)
    assert step == Found(host(NEW, HostRole.WRITER))
    assert at == pytest.approx(T0 + 0.04 + CONNECT_TAKES)  # no pause, no extra round on the hot path
    assert [type(s) for s in cluster.trace] == [AwaitWriter, Connect, Found]
    assert cluster.connects == [(NEW, None)]  # a fresh verdict: no role check on the critical path


def test_the_old_writer_comes_back_as_the_writer() -> None:
    step, _ = drive(new_search(), Cluster([verified(OLD, T0 + 5.0)]))
    assert step == Found(host(OLD, HostRole.WRITER))


def test_a_verdict_from_before_the_failure_is_not_taken() -> None:
    stale = verified(OLD, T0 - 1.0)  # what the monitor knew before: the crashed writer
    cluster = Cluster([stale, verified(NEW, T0 + 0.5)])
    step, _ = drive(new_search(), cluster)
    assert step == Found(host(NEW, HostRole.WRITER))
    assert cluster.connects == [(NEW, None)]


def test_no_writer_before_the_deadline() -> None:
    cluster = Cluster([verified(OLD, T0 - 1.0)])
    step, at = drive(new_search(), cluster)
    assert step == Fail(f"no writer within {TIMEOUT:g} s (timeout)")
    assert at == pytest.approx(T0 + TIMEOUT)
    assert cluster.connects == []
    assert cluster.trace[-2] == Pause(0.0)  # the deadline passed in the wait: one loop turn, then fail


def test_a_writer_refusing_connections_is_asked_for_again_after_a_newer_verdict() -> None:
    refused_until = T0 + 0.3

    def accepts(name: str, t: float, _want: HostRole | None) -> bool:
        return t >= refused_until

    # the monitor verifies NEW again and again (each probe round), as it does while NEW is in recovery
    published = [verified(NEW, T0 + 0.01 * i) for i in range(1, 100)]
    cluster = Cluster(published, accepts)
    step, at = drive(new_search(), cluster)
    assert step == Found(host(NEW, HostRole.WRITER))
    assert at >= refused_until
    waits = [s for s in cluster.trace if isinstance(s, AwaitWriter)]
    assert [w.since for w in waits] == sorted(w.since for w in waits)  # each asks for a newer verdict
    assert len({w.since for w in waits}) == len(waits)


def test_pauses_double_from_10_ms_up_to_the_high_rate() -> None:
    cluster = Cluster([verified(NEW, T0 + 0.001 * i) for i in range(1, 2000)], lambda *_: False)
    search = WriterSearch(T0, T0 + 1.0, 1.0, HIGH_RATE)
    step, _ = drive(search, cluster)
    pauses = [s.seconds for s in cluster.trace if isinstance(s, Pause)]
    assert pauses[:5] == pytest.approx([FIRST_RETRY_PAUSE, 0.02, 0.04, 0.08, HIGH_RATE])
    assert max(pauses) == pytest.approx(HIGH_RATE)
    assert step == Fail(f"no writer within 1 s (could not use writer {host(NEW).url})")


def test_a_high_rate_below_the_first_pause_still_pauses() -> None:
    cluster = Cluster([verified(NEW, T0 + 0.001 * i) for i in range(1, 200)], lambda *_: False)
    drive(WriterSearch(T0, T0 + 0.1, 0.1, 0.001), cluster)
    pauses = [s.seconds for s in cluster.trace if isinstance(s, Pause)]
    assert all(p == pytest.approx(FIRST_RETRY_PAUSE) for p in pauses[:-1])


def test_a_writer_answering_it_is_a_reader_is_dropped_for_a_newer_verdict() -> None:
    # NEW was verified long before the connect (a stale verdict): its role is checked and it is a reader
    # now (demoted again); OTHER is verified later and answers as the writer
    cluster = Cluster(
        [verified(NEW, T0 + 0.01), verified(OTHER, T0 + 0.5)],
        accepts=lambda name, _t, want: not (name == NEW and want is HostRole.WRITER),
    )
    search = new_search()
    step = search.next_round(T0)
    assert isinstance(step, AwaitWriter)
    step = search.on_topology(cluster.published[0], T0 + 0.01 + 2 * VERIFIED_FRESH)  # the verdict aged
    assert step == Connect(host(NEW, HostRole.WRITER), HostRole.WRITER)
    step = search.on_connected(False, T0 + 0.22)
    assert step == Pause(FIRST_RETRY_PAUSE)
    step = search.next_round(T0 + 0.23)
    assert step == AwaitWriter(T0 + 0.22, T0 + TIMEOUT - (T0 + 0.23))
    assert search.on_topology(cluster.published[0], T0 + 0.23) == Pause(0.02)  # the old verdict: no more
    assert search.on_topology(cluster.published[1], T0 + 0.5) == Connect(host(OTHER, HostRole.WRITER), None)
    assert search.on_connected(True, T0 + 0.51) == Found(host(OTHER, HostRole.WRITER))


def test_a_new_writer_named_but_not_yet_verified_is_waited_for() -> None:
    named = Topology((host(NEW, HostRole.WRITER), host(OLD)), T0 + 0.05, None)  # read from a table only
    cluster = Cluster([named, verified(NEW, T0 + 0.4)])
    step, at = drive(new_search(), cluster)
    assert step == Found(host(NEW, HostRole.WRITER))
    assert at == pytest.approx(T0 + 0.4 + CONNECT_TAKES)
    search = new_search()
    search.next_round(T0)
    assert isinstance(search.on_topology(named, T0 + 0.05), Pause)


def test_a_writer_outside_the_custom_endpoint_fails_the_failover() -> None:
    search = new_search(permits=lambda h: h.host != NEW, allowed="members a, b")
    step, _ = drive(search, Cluster([verified(NEW, T0 + 0.1)]))
    assert step == Fail(
        f"the new writer {host(NEW).url} is not among the instances this connection may use "
        "(members a, b: the custom endpoint's members)"
    )


def test_a_stopped_failover_and_a_closed_monitor_end_the_search() -> None:
    assert new_search().next_round(T0, stopped="the connection was closed") == Fail(
        "stopped: the connection was closed"
    )
    assert new_search().next_round(T0, monitor_closed=True) == Fail(
        "the cluster's topology monitor was stopped (release_resources())"
    )
    search = new_search()
    search.next_round(T0)
    assert search.on_topology(None, T0 + 1.0) == Pause(FIRST_RETRY_PAUSE)  # the monitor closed meanwhile
    assert search.next_round(T0 + 1.01, monitor_closed=True) == Fail(
        "the cluster's topology monitor was stopped (release_resources())"
    )


def test_the_deadline_wins_over_a_closed_monitor_and_a_stop_over_both() -> None:
    late = T0 + TIMEOUT + 1
    assert new_search().next_round(late, monitor_closed=True) == Fail(
        f"no writer within {TIMEOUT:g} s (timeout)"
    )
    assert new_search().next_round(late, "bye", True) == Fail("stopped: bye")


def test_the_role_is_checked_only_when_the_verdict_is_not_fresh() -> None:
    assert role_check_needed(None, T0)
    assert not role_check_needed(T0, T0)
    assert not role_check_needed(T0, T0 + VERIFIED_FRESH / 2)
    assert role_check_needed(T0, T0 + 1.5 * VERIFIED_FRESH)
    assert role_check_needed(T0 + 1, T0)  # a verdict from the future (another clock): check


def test_a_connect_outcome_without_a_connect_step_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        new_search().on_connected(True, T0)
