"""Read/write switching decisions (pure, no I/O): every combination of what the engine observes."""

from __future__ import annotations

import itertools

import pytest

from awsasyncwrap.events import HostEvent
from awsasyncwrap.hostinfo import HostInfo, HostRole
from awsasyncwrap.plugins.read_write_splitting._plan import (
    Step,
    after_no_reader,
    cached_fits,
    events_of,
    gone_urls,
    next_step,
)

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(
    ("read_only", "on_reader", "in_tx", "cached", "step"),
    [
        # asked for where it already is: nothing to do, transaction or not
        *[(ro, ro, tx, c, Step.STAY) for ro, tx, c in itertools.product([True, False], repeat=3)],
        # a move with a transaction open is refused, cached or not
        (True, False, True, True, Step.REFUSE),
        (True, False, True, False, Step.REFUSE),
        (False, True, True, True, Step.REFUSE),
        (False, True, True, False, Step.REFUSE),
        # a move: the cached connection first, else a new one
        (True, False, False, True, Step.USE_CACHED),
        (True, False, False, False, Step.OPEN),
        (False, True, False, True, Step.USE_CACHED),
        (False, True, False, False, Step.OPEN),
    ],
)
def test_next_step(read_only: bool, on_reader: bool, in_tx: bool, cached: bool, step: Step) -> None:
    assert next_step(read_only, on_reader, in_tx, cached) is step


def test_every_observation_has_a_step() -> None:
    steps = {next_step(*obs) for obs in itertools.product([True, False], repeat=4)}
    assert steps == {Step.STAY, Step.REFUSE, Step.USE_CACHED, Step.OPEN}


def test_no_reader_reachable() -> None:
    assert after_no_reader(True) is Step.KEEP_WRITER
    assert after_no_reader(False) is Step.FAIL


@pytest.mark.parametrize(
    ("role", "events", "fits"),
    [
        (HostRole.READER, set(), True),
        (HostRole.WRITER, set(), True),
        (HostRole.READER, {HostEvent.WENT_UP}, True),
        (HostRole.READER, {HostEvent.WENT_DOWN}, False),
        (HostRole.WRITER, {HostEvent.HOST_DELETED}, False),
        (HostRole.READER, {HostEvent.CONVERTED_TO_WRITER}, False),  # the reader became the writer
        (HostRole.WRITER, {HostEvent.CONVERTED_TO_READER}, False),  # the writer was demoted
        (HostRole.WRITER, {HostEvent.CONVERTED_TO_WRITER}, True),
        (HostRole.READER, {HostEvent.CONVERTED_TO_READER}, True),
        (HostRole.READER, {HostEvent.CONVERTED_TO_READER, HostEvent.WENT_DOWN}, False),
    ],
)
def test_cached_fits(role: HostRole, events: set[HostEvent], fits: bool) -> None:
    assert cached_fits(role, events) is fits


def test_events_of_collects_every_alias() -> None:
    host = HostInfo("db-1.example", 5432, aliases={"10.0.0.1:5432"})
    changes = {
        host.url: {HostEvent.CONVERTED_TO_READER},
        "10.0.0.1:5432": {HostEvent.WENT_DOWN},
        "other:5432": {HostEvent.HOST_DELETED},
    }
    assert events_of(host, changes) == {HostEvent.CONVERTED_TO_READER, HostEvent.WENT_DOWN}
    assert gone_urls(changes) == {"10.0.0.1:5432", "other:5432"}
