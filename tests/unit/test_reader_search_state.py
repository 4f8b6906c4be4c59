"""The reader-mode failover's search (strict_reader, reader_or_writer), decided without I/O, on a simulated
clock. The candidate order itself: test_failover_order.py; against real clusters:
tests/failover/test_reader_failover.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from awsasyncwrap.hostinfo import HostAvailability, HostInfo, HostRole
from awsasyncwrap.plugins.failover._order import candidate_order
from awsasyncwrap.plugins.failover._reader_search_state import ReaderSearch
from awsasyncwrap.plugins.failover._steps import Connect, Fail, Found, Pause, ReaderStep

pytestmark = pytest.mark.timeout(10)

T0 = 100.0
TIMEOUT = 5.0
HIGH_RATE = 0.1
CONNECT_TAKES = 0.01

WRITER = HostInfo("w", 5432, HostRole.WRITER)


def reader(name: str, availability: HostAvailability = HostAvailability.AVAILABLE) -> HostInfo:
    return HostInfo(name, 5432, HostRole.READER, availability)


def drive(
    search: ReaderSearch,
    rounds: Callable[[float], Sequence[HostInfo] | None],
    accepts: Callable[[HostInfo, float, HostRole | None], bool],
    now: float = T0,
) -> tuple[list[ReaderStep], float]:
    """Run ``search`` the way ``HostSearch._to_reader`` does: every step taken, and the time at the end."""
    steps: list[ReaderStep] = []
    step = search.next_round(rounds(now), now)
    while True:
        steps.append(step)
        if isinstance(step, Connect):
            now += CONNECT_TAKES
            step = search.on_connected(accepts(step.host, now, step.want), now)
        elif isinstance(step, Pause):
            now += step.seconds
            step = search.next_round(rounds(now), now)
        else:
            return steps, now


def strict(candidates: list[HostInfo]) -> Callable[[float], list[HostInfo]]:
    return lambda _now: candidates


def test_strict_reader_takes_the_first_reader_that_answers_as_one() -> None:
    readers = [reader("r1"), reader("r2"), reader("r3")]

    def accepts(h: HostInfo, _t: float, want: HostRole | None) -> bool:
        assert want is HostRole.READER  # strict_reader always asks
        return h.host != "r1"  # r1 refuses

    steps, _ = drive(ReaderSearch(T0 + TIMEOUT, TIMEOUT, True, HIGH_RATE), strict(readers), accepts)
    assert steps == [
        Connect(readers[0], HostRole.READER),
        Connect(readers[1], HostRole.READER),
        Found(readers[1]),
    ]


def test_a_reader_promoted_meanwhile_answers_as_a_writer_and_is_passed_over() -> None:
    readers = [reader("promoted"), reader("r2")]
    steps, _ = drive(
        ReaderSearch(T0 + TIMEOUT, TIMEOUT, True, HIGH_RATE),
        strict(readers),
        lambda h, _t, want: not (h.host == "promoted" and want is HostRole.READER),
    )
    assert steps[-1] == Found(readers[1])


def test_reader_or_writer_takes_the_writer_last_as_the_writer() -> None:
    order = candidate_order([reader("r1"), reader("failed")], frozenset({"failed:5432"}), WRITER)
    steps, _ = drive(
        ReaderSearch(T0 + TIMEOUT, TIMEOUT, False, HIGH_RATE),
        strict(order),
        lambda h, _t, want: want is None and h.role is HostRole.WRITER,
    )
    assert [s.host.host for s in steps if isinstance(s, Connect)] == ["r1", "failed", "w"]
    assert steps[-1] == Found(WRITER)
    assert steps[-1].host.role is HostRole.WRITER


def test_a_reader_found_is_reported_as_a_reader_whatever_the_topology_said() -> None:
    unknown = HostInfo("r9", 5432, HostRole.UNKNOWN)
    steps, _ = drive(
        ReaderSearch(T0 + TIMEOUT, TIMEOUT, False, HIGH_RATE), strict([unknown]), lambda *_: True
    )
    assert steps[-1] == Found(unknown.with_role(HostRole.READER))
    assert isinstance(steps[-1], Found) and steps[-1].host.role is HostRole.READER


def test_a_round_without_a_reader_pauses_and_starts_over_on_the_new_topology() -> None:
    late = reader("restarted")

    def rounds(now: float) -> list[HostInfo]:
        return [reader("gone")] + ([late] if now >= T0 + 0.3 else [])

    steps, at = drive(ReaderSearch(T0 + TIMEOUT, TIMEOUT, True, HIGH_RATE), rounds, lambda h, *_: h is late)
    assert steps[-1] == Found(late)
    assert Pause(HIGH_RATE) in steps
    assert T0 + 0.3 <= at < T0 + 0.3 + HIGH_RATE + 3 * CONNECT_TAKES


def test_no_reader_before_the_deadline() -> None:
    steps, at = drive(ReaderSearch(T0 + 1.0, 1.0, True, HIGH_RATE), strict([reader("r1")]), lambda *_: False)
    assert steps[-1] == Fail("no reader within 1 s")
    assert at == pytest.approx(T0 + 1.0, abs=CONNECT_TAKES + 1e-9)
    assert all(s.seconds <= HIGH_RATE for s in steps if isinstance(s, Pause))
    steps, _ = drive(ReaderSearch(T0 + 1.0, 1.0, False, HIGH_RATE), strict([]), lambda *_: False)
    assert steps[-1] == Fail("no host within 1 s")


def test_the_deadline_ends_a_round_before_its_last_candidates() -> None:
    search = ReaderSearch(T0 + 1.0, 1.0, True, HIGH_RATE)
    assert search.next_round([reader("r1"), reader("r2")], T0) == Connect(reader("r1"), HostRole.READER)
    assert search.on_connected(False, T0 + 1.0) == Fail("no reader within 1 s")  # r2 is not tried


def test_the_last_pause_ends_at_the_deadline() -> None:
    search = ReaderSearch(T0 + 1.0, 1.0, True, HIGH_RATE)
    assert search.next_round([], T0 + 0.95) == Pause(pytest.approx(0.05))  # type: ignore[arg-type]


def test_a_stop_ends_the_search_before_the_next_candidate() -> None:
    search = ReaderSearch(T0 + TIMEOUT, TIMEOUT, True, HIGH_RATE)
    assert search.next_round([reader("r1")], T0, stopped="closed") == Fail("stopped: closed")
    search = ReaderSearch(T0 + TIMEOUT, TIMEOUT, True, HIGH_RATE)
    assert isinstance(search.next_round([reader("r1"), reader("r2")], T0), Connect)
    assert search.on_connected(False, T0 + 0.1, stopped="closed") == Fail("stopped: closed")


def test_a_stopped_monitor_ends_the_search() -> None:
    search = ReaderSearch(T0 + TIMEOUT, TIMEOUT, False, HIGH_RATE)
    assert search.next_round(None, T0) == Fail(
        "the cluster's topology monitor was stopped (release_resources())"
    )


def test_a_connect_outcome_without_a_connect_step_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        ReaderSearch(T0 + TIMEOUT, TIMEOUT, True, HIGH_RATE).on_connected(True, T0)
