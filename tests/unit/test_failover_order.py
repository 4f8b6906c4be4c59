"""The order in which a failover tries hosts (pure, shared by failover and gdb_failover)."""

from __future__ import annotations

import random

import pytest

from awsasyncwrap.hostinfo import HostAvailability, HostInfo, HostRole
from awsasyncwrap.plugins.failover._order import candidate_order

pytestmark = pytest.mark.timeout(10)

DOWN = HostAvailability.UNAVAILABLE


def reader(name: str, availability: HostAvailability = HostAvailability.AVAILABLE) -> HostInfo:
    return HostInfo(name, 5432, HostRole.READER, availability, aliases={f"{name}-alias:5432"})


WRITER = HostInfo("w", 5432, HostRole.WRITER)


def names(hosts: list[HostInfo]) -> list[str]:
    return [h.host for h in hosts]


def test_up_readers_then_down_ones_then_the_failed_one_then_the_writer() -> None:
    readers = [reader("r1", DOWN), reader("r2"), reader("failed"), reader("r3")]
    failed = readers[2].all_aliases
    assert names(candidate_order(readers, failed, WRITER)) == ["r2", "r3", "r1", "failed", "w"]


def test_strict_reader_modes_leave_the_writer_out() -> None:
    assert names(candidate_order([reader("r1")], frozenset())) == ["r1"]


def test_the_failed_host_is_known_by_any_alias() -> None:
    readers = [reader("r1"), reader("r2")]
    assert names(candidate_order(readers, frozenset({"r1-alias:5432"}))) == ["r2", "r1"]


def test_available_readers_are_shuffled_and_only_they() -> None:
    readers = [reader(f"r{i}") for i in range(6)] + [reader("down", DOWN)]
    orders = {
        tuple(names(candidate_order(readers, frozenset(), rng=random.Random(seed)))) for seed in range(20)
    }
    assert len(orders) > 1  # shuffled
    assert all(order[-1] == "down" for order in orders)  # the down one always after the up ones
    assert names(candidate_order(readers, frozenset())) == [f"r{i}" for i in range(6)] + ["down"]


def test_a_strategy_pick_goes_first() -> None:
    readers = [reader("r1"), reader("r2"), reader("r3", DOWN)]
    seen: list[list[str]] = []

    def pick_last(up: list[HostInfo]) -> HostInfo:
        seen.append(names(up))
        return up[-1]

    assert names(candidate_order(readers, frozenset(), WRITER, first=pick_last)) == ["r2", "r1", "r3", "w"]
    assert seen == [["r1", "r2"]]  # it chooses among the available readers only


def test_a_strategy_without_a_pick_or_without_up_readers_changes_nothing() -> None:
    readers = [reader("r1"), reader("r2")]
    assert names(candidate_order(readers, frozenset(), first=lambda up: None)) == ["r1", "r2"]

    def never(up: list[HostInfo]) -> HostInfo:
        raise AssertionError("asked with no available reader")

    assert names(candidate_order([reader("r1", DOWN)], frozenset(), WRITER, first=never)) == ["r1", "w"]
