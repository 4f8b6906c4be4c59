"""The topology monitor's mode decisions and writer-check episodes, without I/O or an event loop: normal vs.
high-rate refresh, when a verification starts and ends, the hold after it, which writer a failover
accepts, what one read means, and the schedule of writer checks. With a scripted cluster:
test_verification.py, test_stuck_calls.py; against real clusters: tests/failover."""

from __future__ import annotations

import pytest

from awsasyncwrap.hostinfo import HostInfo, HostRole
from awsasyncwrap.topology import Topology
from awsasyncwrap.topology._monitor_state import ReadVerdict, RefreshModes, judge_read, writer_verified_since
from awsasyncwrap.topology._probe_state import Probe, ProbeAction, ProbeStep
from awsasyncwrap.topology._schedule import DISCOVERY_AFTER, FIRST_PAUSE, probe_pause, reconnect_pause
from awsasyncwrap.topology._stuck_writer_state import (
    MAX_QUICK_CHECKS,
    NextCheck,
    StuckWriterEpisode,
    check_wanted,
)
from awsasyncwrap.topology._writer_check import Verdict

pytestmark = pytest.mark.timeout(10)

REFRESH, HIGH, HOLD = 30.0, 0.1, 120.0
T0 = 1000.0


def host(name: str, role: HostRole = HostRole.READER) -> HostInfo:
    return HostInfo(name, 5432, role, host_id=name)


W, R1, R2 = host("w", HostRole.WRITER), host("r1"), host("r2")


def topo(writer: HostInfo, verified_at: float | None, read_at: float = T0) -> Topology:
    return Topology((writer.with_role(HostRole.WRITER), R1, R2), read_at, verified_at)


# --- RefreshModes -----------------------------------------------------------------------------------------


def test_the_steady_state_refreshes_at_the_normal_rate() -> None:
    modes = RefreshModes(REFRESH, HIGH, HOLD)
    assert not modes.needs_verification(None)
    assert not modes.high_rate(T0, None)
    assert modes.pause_after_round(T0, None) == REFRESH


def test_a_reported_failure_starts_a_verification_that_a_newer_verdict_ends() -> None:
    modes = RefreshModes(REFRESH, HIGH, HOLD)
    modes.request(T0)
    assert modes.needs_verification(T0 - 5)  # the last verdict predates the failure
    assert modes.needs_verification(None)
    assert modes.high_rate(T0, T0 - 5)
    assert modes.pause_after_round(T0, T0 - 5) is None  # verify again at once, no sleep
    assert not modes.needs_verification(T0)  # verified at (or after) the failure: done
    assert not modes.needs_verification(T0 + 0.2)


def test_an_older_request_never_moves_the_wanted_verdict_back() -> None:
    modes = RefreshModes(REFRESH, HIGH, HOLD)
    modes.request(T0 + 1)
    modes.request(T0)
    assert modes.requested_since == T0 + 1
    assert modes.needs_verification(T0 + 0.5)


def test_the_high_rate_holds_after_a_verification_then_slows_down() -> None:
    modes = RefreshModes(REFRESH, HIGH, HOLD)
    modes.request(T0)
    modes.hold_from(T0)  # the verification starts
    modes.hold_from(T0 + 0.05)  # and ends with a writer verified
    verified = T0 + 0.05
    assert modes.holding(T0 + 1)
    assert modes.high_rate(T0 + 1, verified)
    assert modes.pause_after_round(T0 + 1, verified) == HIGH
    assert modes.pause_after_round(T0 + 0.05 + HOLD, verified) == REFRESH
    assert not modes.high_rate(T0 + 0.05 + HOLD, verified)


def test_a_failed_round_of_its_own_starts_a_verification_once() -> None:
    modes = RefreshModes(REFRESH, HIGH, HOLD)
    modes.round_failed(T0, T0 - 10)  # the monitoring connection failed: look for the writer
    assert modes.needs_verification(T0 - 10)
    modes.round_failed(T0 + 3, T0 - 10)  # already looking: the request keeps its instant
    assert modes.requested_since == T0


# --- which writer counts ------------------------------------------------------------------------------------


def test_a_failover_accepts_only_a_writer_verified_at_or_after_the_failure() -> None:
    assert writer_verified_since(None, T0) is None
    assert writer_verified_since(topo(W, None), T0) is None  # named by a table only
    assert writer_verified_since(topo(W, T0 - 0.01), T0) is None  # a stale verdict
    assert writer_verified_since(topo(W, T0), T0) == W
    assert writer_verified_since(Topology((R1, R2), T0, T0), T0) is None  # no writer at all


def test_what_one_read_means() -> None:
    verified = topo(W, T0 - 1)
    # the monitoring connection's instance answered "not a reader": its writer is verified
    assert judge_read(False, "w", verified, W) is ReadVerdict.ON_WRITER
    assert judge_read(False, "r1", None, None) is ReadVerdict.ON_WRITER  # a reader promoted under it
    # an endpoint nobody identified cannot verify anything
    assert judge_read(False, None, None, W) is ReadVerdict.ON_READER
    # a reader's table names another writer than the verified one: verify before publishing
    assert judge_read(True, "r1", verified, R2.with_role(HostRole.WRITER)) is ReadVerdict.DISAGREES
    assert judge_read(True, "r1", verified, None) is ReadVerdict.DISAGREES
    # a reader agreeing with the verified writer: publish, and move the connection to the writer
    assert judge_read(True, "r1", verified, W) is ReadVerdict.ON_READER
    # nothing verified yet: publish what the table says
    assert judge_read(True, "r1", topo(W, None), R2) is ReadVerdict.ON_READER
    assert judge_read(True, "r1", None, None) is ReadVerdict.PUBLISH
    assert judge_read(True, "w", None, W) is ReadVerdict.PUBLISH  # the writer's own table, it says reader
    assert judge_read(True, None, None, W, connected=False) is ReadVerdict.PUBLISH


# --- writer checks ------------------------------------------------------------------------------------------


def test_only_calls_stuck_on_the_writer_start_a_check() -> None:
    assert check_wanted(W, W, period=1.0, verifying=False)
    assert check_wanted(HostInfo("w-alias", 5432, host_id="w"), W, period=1.0, verifying=False)
    assert not check_wanted(R1, W, period=1.0, verifying=False)
    assert not check_wanted(W, None, period=1.0, verifying=False)
    assert not check_wanted(W, W, period=0.0, verifying=False)  # writer checks are off
    assert not check_wanted(W, W, period=1.0, verifying=True)  # a verification is on it already


def test_an_episode_ends_when_the_new_writer_is_found() -> None:
    assert StuckWriterEpisode(W, HIGH, 1.0).after_check(Verdict.CHANGED, T0) is None


def test_an_unchanged_writer_is_checked_again_one_period_later_if_calls_stay_stuck() -> None:
    episode = StuckWriterEpisode(W, HIGH, 1.0)
    assert episode.after_check(Verdict.UNCHANGED, T0) == NextCheck(T0 + 1.0, needs_report=True)


def test_a_failover_under_way_is_checked_at_the_high_rate_a_bounded_number_of_times() -> None:
    episode = StuckWriterEpisode(W, HIGH, 1.0)
    steps = [episode.after_check(Verdict.PENDING, T0 + i) for i in range(MAX_QUICK_CHECKS + 1)]
    assert steps[:MAX_QUICK_CHECKS] == [NextCheck(T0 + i + HIGH, False) for i in range(MAX_QUICK_CHECKS)]
    assert steps[-1] == NextCheck(T0 + MAX_QUICK_CHECKS + 1.0, needs_report=True)  # then slows down
    assert episode.after_check(Verdict.UNCHANGED, T0 + 20) == NextCheck(T0 + 21, True)
    assert episode.after_check(Verdict.PENDING, T0 + 30) == NextCheck(T0 + 30 + HIGH, False)  # reset


def test_an_episode_goes_on_only_while_the_suspect_stays_the_writer_and_nobody_verifies() -> None:
    episode = StuckWriterEpisode(W, HIGH, 1.0)
    assert episode.goes_on(W, verifying=False)
    assert not episode.goes_on(W, verifying=True)
    assert not episode.goes_on(R1.with_role(HostRole.WRITER), verifying=False)
    assert not episode.goes_on(None, verifying=False)


# --- one verification probe ---------------------------------------------------------------------------------


def test_a_probe_on_a_spare_asks_at_once_and_a_writer_answer_ends_it() -> None:
    probe = Probe(spare=True, started=T0, high_rate=HIGH)
    assert probe.first() == ProbeStep(ProbeAction.ASK_ROLE)  # no connect on the critical path
    assert probe.on_role(False, T0 + 0.001) == ProbeStep(ProbeAction.FOUND)


def test_a_probe_without_a_spare_connects_first() -> None:
    probe = Probe(spare=False, started=T0, high_rate=HIGH)
    assert probe.first() == ProbeStep(ProbeAction.CONNECT)
    assert probe.on_connected() == ProbeStep(ProbeAction.ASK_ROLE)


def test_a_reader_is_asked_for_its_topology_once_then_polled_with_growing_pauses() -> None:
    probe = Probe(spare=True, started=T0, high_rate=HIGH)
    probe.first()
    assert probe.on_role(True, T0 + 0.001) == ProbeStep(ProbeAction.READ_TOPOLOGY)
    assert probe.on_topology(T0 + 0.002) == ProbeStep(ProbeAction.PAUSE, FIRST_PAUSE)
    pauses = []
    for elapsed in (0.01, 0.2, 1.0, 5.0):
        assert probe.on_pause_over() == ProbeStep(ProbeAction.ASK_ROLE)
        step = probe.on_role(True, T0 + elapsed)
        assert step.action is ProbeAction.PAUSE
        pauses.append(step.pause)
    assert pauses == pytest.approx([probe_pause(e, HIGH) for e in (0.01, 0.2, 1.0, 5.0)])
    assert pauses == sorted(pauses) and pauses[-1] == HIGH


def test_a_stale_spare_reconnects_at_once_then_a_refusing_host_waits_between_connects() -> None:
    probe = Probe(spare=True, started=T0, high_rate=HIGH)
    probe.first()
    assert probe.on_failure(T0 + 0.001) == ProbeStep(ProbeAction.CONNECT)  # no pause: the spare was stale
    assert probe.on_failure(T0 + 0.002) == ProbeStep(ProbeAction.PAUSE, reconnect_pause(HIGH))
    assert probe.on_pause_over() == ProbeStep(ProbeAction.CONNECT)


def test_a_reconnect_after_a_refusal_waits_at_most_the_discovery_pause() -> None:
    probe = Probe(spare=False, started=T0, high_rate=5.0)
    probe.first()
    assert probe.on_failure(T0 + 0.01) == ProbeStep(ProbeAction.PAUSE, DISCOVERY_AFTER)


def test_a_new_writer_restarting_is_found_on_the_first_connect_it_accepts() -> None:
    probe = Probe(spare=False, started=T0, high_rate=HIGH)
    steps = [probe.first()]
    for _ in range(3):  # refused three times: a pause between connects, never a query
        steps.append(probe.on_failure(T0))
        steps.append(probe.on_pause_over())
    steps += [probe.on_connected(), probe.on_role(False, T0 + 0.5)]
    assert [s.action for s in steps] == [
        ProbeAction.CONNECT,
        *[ProbeAction.PAUSE, ProbeAction.CONNECT] * 3,
        ProbeAction.ASK_ROLE,
        ProbeAction.FOUND,
    ]
