"""In-flight call bookkeeping of host_monitoring: O(1) registration, removal, oldest-first scan."""

from __future__ import annotations

import sys
import time
from types import FrameType
from typing import Any

import pytest

from awsasyncwrap.plugins.host_monitoring import InFlightCalls, MonitoredCall

pytestmark = pytest.mark.timeout(30)

SERVICE: Any = object()


def make_call(start: float) -> MonitoredCall:
    call = MonitoredCall(object(), SERVICE)
    call.start = start
    return call


def test_add_remove_and_oldest() -> None:
    calls = InFlightCalls()
    assert calls.oldest() is None
    first, second, third = make_call(1.0), make_call(2.0), make_call(3.0)
    for call in (first, second, third):
        calls.add(call)
    assert len(calls) == 3
    assert calls.oldest() is first
    calls.remove(first)
    assert calls.oldest() is second
    calls.remove(first)  # unknown / already removed: ignored
    calls.remove(third)
    assert calls.snapshot() == [second]
    calls.remove(second)
    assert len(calls) == 0 and calls.oldest() is None


def test_aborted_calls_are_skipped() -> None:
    calls = InFlightCalls()
    old, young = make_call(1.0), make_call(5.0)
    calls.add(old)
    calls.add(young)
    old.aborted = True
    assert calls.oldest() is young
    assert calls.oldest(skip_aborted=False) is old
    assert list(calls.overdue(now=10.0, grace=1.0)) == [young]


def test_overdue_is_oldest_first_and_stops_at_first_young_call() -> None:
    calls = InFlightCalls()
    old = [make_call(float(i)) for i in range(3)]
    young = make_call(100.0)
    # an old call registered after a young one cannot happen (start times are monotonic); it is used
    # here to prove the scan stops at the first young call instead of looking at every call
    late_old = [make_call(0.5) for _ in range(10_000)]
    for call in (*old, young, *late_old):
        calls.add(call)
    assert list(calls.overdue(now=50.0, grace=10.0)) == old
    assert list(calls.overdue(now=1.5, grace=1.0)) == old[:1]
    assert list(calls.overdue(now=0.0, grace=1.0)) == []


def test_call_records_its_start_and_holds_no_history() -> None:
    before = time.monotonic()
    call = MonitoredCall("conn", SERVICE)
    assert before <= call.start <= time.monotonic()
    assert not call.aborted
    assert not hasattr(call, "__dict__")  # slots only: a small object that dies with the call
    calls = InFlightCalls()
    for _ in range(10_000):
        c = MonitoredCall("conn", SERVICE)
        calls.add(c)
        calls.remove(c)
    assert len(calls) == 0 and calls.snapshot() == []


def _cycle_opcodes(calls: InFlightCalls, n: int) -> int:
    """Bytecode instructions run to add and remove ``n`` calls: a measure of work no machine load changes."""
    pending = [MonitoredCall("conn", SERVICE) for _ in range(n)]
    counted = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal counted
        frame.f_trace_opcodes = True
        if event == "opcode":
            counted += 1
        return trace

    sys.settrace(trace)
    try:
        for call in pending:
            calls.add(call)
            calls.remove(call)
    finally:
        sys.settrace(None)
    return counted


def test_registration_cost_does_not_grow_with_calls_in_flight() -> None:
    small, large = InFlightCalls(), InFlightCalls()
    for _ in range(10):
        small.add(MonitoredCall("conn", SERVICE))
    for _ in range(100_000):
        large.add(MonitoredCall("conn", SERVICE))
    # the same Python work whatever is in flight, on a hash table (C-level insert and delete are O(1));
    # counted, not timed: a loaded machine changes times, never this count
    assert isinstance(large, dict)
    assert _cycle_opcodes(large, 100) == _cycle_opcodes(small, 100)
