"""gdb_failover's decision (pure): every mode through the scenarios of a two-region Global Database."""

from __future__ import annotations

import random

import pytest

from awsasyncwrap.hostinfo import HostAvailability, HostInfo, HostRole
from awsasyncwrap.plugins._gdb_regions import region_of
from awsasyncwrap.plugins.gdb_failover import MODES, GdbMode, decide, mode_for

pytestmark = pytest.mark.timeout(5)

HOME, AWAY = "us-east-1", "eu-west-1"
M = GdbMode


def host(name: str, region: str | None, role: HostRole = HostRole.READER, up: bool = True) -> HostInfo:
    avail = HostAvailability.AVAILABLE if up else HostAvailability.UNAVAILABLE
    return HostInfo(name, 5432, role, avail, region=region)


def topo(writer_region: str | None = HOME, home_up: bool = True, away_up: bool = True) -> list[HostInfo]:
    """Writer w in ``writer_region`` (None: no writer), readers h1, h2 at home and a1 away."""
    hosts = [host("h1", HOME, up=home_up), host("h2", HOME, up=home_up), host("a1", AWAY, up=away_up)]
    if writer_region is not None:
        up = home_up if writer_region == HOME else away_up
        hosts.insert(0, host("w", writer_region, HostRole.WRITER, up))
    return hosts


def names(hosts: tuple[HostInfo, ...]) -> list[str]:
    return [h.host for h in hosts]


def test_mode_names_are_the_aws_ones() -> None:
    assert MODES == (
        "strict-writer",
        "strict-home-reader",
        "strict-out-of-home-reader",
        "strict-any-reader",
        "home-reader-or-writer",
        "out-of-home-reader-or-writer",
        "any-reader-or-writer",
    )
    assert tuple(mode.value for mode in GdbMode) == MODES  # the enum and the properties' list agree


@pytest.mark.parametrize(
    ("writer_region", "expect", "active_home"),
    [(HOME, M.STRICT_WRITER, True), (AWAY, M.STRICT_ANY_READER, False), (None, M.STRICT_WRITER, True)],
)
def test_active_mode_while_the_writer_is_home(
    writer_region: str | None, expect: GdbMode, active_home: bool
) -> None:
    assert mode_for(topo(writer_region), HOME, M.STRICT_WRITER, M.STRICT_ANY_READER) == (expect, active_home)


def test_region_comes_from_the_topology_else_the_host_name() -> None:
    assert region_of(HostInfo("x", region="US-EAST-1")) == "us-east-1"
    assert region_of(HostInfo("db1.abc123.eu-west-1.rds.amazonaws.com")) == "eu-west-1"
    assert region_of(HostInfo("127.0.0.1")) is None


def test_strict_writer_follows_the_writer_wherever_it_is() -> None:
    for writer_region in (HOME, AWAY):
        d = decide(topo(writer_region), HOME, M.STRICT_WRITER, M.STRICT_WRITER)
        assert d.follow_writer and d.candidates == () and d.verify_role is None


# (mode, writer in home) -> candidates in order (no shuffle); the writer w is the only writer
EXPECTED: dict[tuple[GdbMode, bool], list[str]] = {
    (M.STRICT_HOME_READER, True): ["h1", "h2"],
    (M.STRICT_HOME_READER, False): ["h1", "h2"],
    (M.STRICT_OUT_OF_HOME_READER, True): ["a1"],
    (M.STRICT_OUT_OF_HOME_READER, False): ["a1"],
    (M.STRICT_ANY_READER, True): ["h1", "h2", "a1"],
    (M.HOME_READER_OR_WRITER, True): ["h1", "h2", "w"],
    (M.HOME_READER_OR_WRITER, False): ["h1", "h2", "w"],  # the writer anywhere: it is the writer
    (M.OUT_OF_HOME_READER_OR_WRITER, True): ["a1", "w"],
    (M.ANY_READER_OR_WRITER, False): ["h1", "h2", "a1", "w"],
}


@pytest.mark.parametrize(("mode", "home_writer"), list(EXPECTED))
def test_each_mode_names_its_candidates(mode: GdbMode, home_writer: bool) -> None:
    hosts = topo(HOME if home_writer else AWAY)
    d = decide(hosts, HOME, mode, mode)
    assert not d.follow_writer and d.mode is mode and d.home_active is home_writer
    assert names(d.candidates) == EXPECTED[(mode, home_writer)]
    assert d.verify_role is (HostRole.READER if mode.name.startswith("STRICT_") else None)


def test_home_cut_off_readers_believed_down_come_after_the_others() -> None:
    hosts = topo(HOME, home_up=False)
    d = decide(hosts, HOME, M.ANY_READER_OR_WRITER, M.ANY_READER_OR_WRITER)
    assert names(d.candidates) == ["a1", "h1", "h2", "w"]
    d = decide(hosts, HOME, M.HOME_READER_OR_WRITER, M.HOME_READER_OR_WRITER)
    assert names(d.candidates) == ["h1", "h2", "w"]  # still tried: down only as far as we know


def test_writer_moved_away_switches_to_the_inactive_mode() -> None:
    before = decide(topo(HOME), HOME, M.STRICT_WRITER, M.HOME_READER_OR_WRITER)
    after = decide(topo(AWAY), HOME, M.STRICT_WRITER, M.HOME_READER_OR_WRITER)
    assert before.follow_writer and before.home_active
    assert not after.follow_writer and not after.home_active
    assert names(after.candidates) == ["h1", "h2", "w"]


def test_no_readers_leaves_only_the_writer_or_nothing() -> None:
    only_writer = [host("w", HOME, HostRole.WRITER)]
    assert names(decide(only_writer, HOME, M.HOME_READER_OR_WRITER, M.STRICT_WRITER).candidates) == ["w"]
    assert decide(only_writer, HOME, M.STRICT_HOME_READER, M.STRICT_WRITER).candidates == ()
    no_writer = topo(None)
    assert names(decide(no_writer, HOME, M.ANY_READER_OR_WRITER, M.STRICT_WRITER).candidates) == [
        "h1",
        "h2",
        "a1",
    ]


def test_the_failed_host_is_tried_last() -> None:
    hosts = topo(HOME)
    failed = hosts[1].all_aliases  # h1
    d = decide(hosts, HOME, M.STRICT_HOME_READER, M.STRICT_HOME_READER, failed=failed)
    assert names(d.candidates) == ["h2", "h1"]


def test_accessible_regions_exclude_other_regions() -> None:
    hosts = topo(AWAY)
    d = decide(hosts, HOME, M.ANY_READER_OR_WRITER, M.ANY_READER_OR_WRITER, accessible=frozenset({HOME}))
    assert names(d.candidates) == ["h1", "h2"]  # neither a1 nor the writer away
    unknown = [*hosts, host("x", None)]
    d = decide(unknown, HOME, M.STRICT_ANY_READER, M.STRICT_ANY_READER, accessible=frozenset({HOME}))
    assert names(d.candidates) == ["h1", "h2", "x"]  # a host of unknown region is not excluded


def test_shuffle_only_among_available_readers() -> None:
    hosts = [host(f"h{i}", HOME) for i in range(6)] + [
        host("d", HOME, up=False),
        host("w", HOME, HostRole.WRITER),
    ]
    seen = set()
    for seed in range(20):
        d = decide(hosts, HOME, M.HOME_READER_OR_WRITER, M.HOME_READER_OR_WRITER, rng=random.Random(seed))
        assert names(d.candidates)[-2:] == ["d", "w"]
        seen.add(tuple(names(d.candidates)[:6]))
    assert len(seen) > 1


def test_region_names_compare_case_insensitively() -> None:
    hosts = [host("w", "US-EAST-1", HostRole.WRITER), host("r", "Us-East-1")]
    assert names(decide(hosts, HOME, M.STRICT_HOME_READER, M.STRICT_WRITER).candidates) == ["r"]
