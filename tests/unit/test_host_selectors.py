"""Host selection strategies (pure logic on fake hosts)."""

from __future__ import annotations

import collections
import random
from collections.abc import Iterator

import pytest

from awsasyncwrap import AwsConnectError, ConfigurationError, HostAvailability, HostInfo, HostRole
from awsasyncwrap.host_selectors import (
    BUILTIN_STRATEGIES,
    ROUND_ROBIN_DEFAULT_WEIGHT,
    ROUND_ROBIN_HOST_WEIGHT_PAIRS,
    WEIGHTED_RANDOM_HOST_WEIGHT_PAIRS,
    HighestWeightHostSelector,
    LeastConnectionsHostSelector,
    RandomHostSelector,
    RoundRobinHostSelector,
    WeightedRandomHostSelector,
    parse_weight_pairs,
    selector_for,
)

pytestmark = pytest.mark.timeout(10)

READER, WRITER = HostRole.READER, HostRole.WRITER


def host(n: int, role: HostRole = READER, weight: int = 100, up: bool = True) -> HostInfo:
    return HostInfo(
        f"instance-{n}.xyz.us-east-1.rds.amazonaws.com",
        5432,
        role,
        HostAvailability.AVAILABLE if up else HostAvailability.UNAVAILABLE,
        weight,
        host_id=f"instance-{n}",
    )


def cluster() -> list[HostInfo]:
    """A writer, three available readers and one reader marked unavailable, in no particular order."""
    return [host(3), host(1, WRITER), host(4, up=False), host(2), host(5)]


@pytest.fixture(autouse=True)
def fresh_cycles() -> Iterator[None]:
    RoundRobinHostSelector.clear()
    yield
    RoundRobinHostSelector.clear()


def ids(picks: list[HostInfo]) -> list[str]:
    return [h.host_id or "" for h in picks]


# --- random ---------------------------------------------------------------------------------------


def test_random_picks_every_available_host_of_the_role_and_nothing_else() -> None:
    random.seed(7)
    picks = collections.Counter(
        ids([RandomHostSelector().get_host(cluster(), READER, {}) for _ in range(600)])
    )
    assert set(picks) == {"instance-2", "instance-3", "instance-5"}
    assert min(picks.values()) > 120  # roughly uniform: 200 each expected
    assert RandomHostSelector().get_host(cluster(), WRITER, {}).host_id == "instance-1"


def test_no_eligible_host_is_a_clear_error() -> None:
    hosts = [host(1, WRITER), host(2, up=False)]
    for selector in (
        RandomHostSelector(),
        RoundRobinHostSelector(),
        WeightedRandomHostSelector(),
        HighestWeightHostSelector(),
        LeastConnectionsHostSelector(lambda h: 0),
    ):
        with pytest.raises(AwsConnectError, match="No available reader host"):
            selector.get_host(hosts, READER, {})


# --- round robin ------------------------------------------------------------------------------------


def test_round_robin_takes_turns_in_host_order() -> None:
    selector = RoundRobinHostSelector()
    picks = [selector.get_host(cluster(), READER, {}) for _ in range(7)]
    assert ids(picks) == ["instance-2", "instance-3", "instance-5"] * 2 + ["instance-2"]


def test_round_robin_cycle_is_shared_by_every_selector_and_survives_a_host_change() -> None:
    assert RoundRobinHostSelector().get_host(cluster(), READER, {}).host_id == "instance-2"
    assert RoundRobinHostSelector().get_host(cluster(), READER, {}).host_id == "instance-3"
    fewer = [h for h in cluster() if h.host_id != "instance-5"]
    assert RoundRobinHostSelector().get_host(fewer, READER, {}).host_id == "instance-2"  # wraps over the gap
    assert RoundRobinHostSelector().get_host(cluster(), READER, {}).host_id == "instance-3"


def test_round_robin_weights_give_picks_in_a_row() -> None:
    props = {"round_robin_host_weight_pairs": "instance-3:3,instance-5:2", "round_robin_default_weight": "1"}
    selector = RoundRobinHostSelector()
    picks = [selector.get_host(cluster(), READER, props) for _ in range(12)]
    cycle = ["instance-2", "instance-3", "instance-3", "instance-3", "instance-5", "instance-5"]
    assert ids(picks) == cycle * 2


def test_round_robin_default_weight_applies_to_unnamed_hosts() -> None:
    props = {"round_robin_host_weight_pairs": "instance-2:1", "round_robin_default_weight": 2}
    selector = RoundRobinHostSelector()
    picks = [selector.get_host(cluster(), READER, props) for _ in range(5)]
    assert ids(picks) == ["instance-2", "instance-3", "instance-3", "instance-5", "instance-5"]


def test_weight_pairs_match_instance_id_host_url_or_first_label() -> None:
    h = host(2)
    for name in ("instance-2", h.host, h.url):
        props = {"round_robin_host_weight_pairs": {name: 2}}
        RoundRobinHostSelector.clear()
        selector = RoundRobinHostSelector()
        assert ids([selector.get_host([h, host(3)], READER, props) for _ in range(3)]) == [
            "instance-2",
            "instance-2",
            "instance-3",
        ]
    plain = HostInfo("db-7.example.com", 5432, READER)  # no instance id: the first label counts
    other = HostInfo("db-8.example.com", 5432, READER)
    RoundRobinHostSelector.clear()
    selector = RoundRobinHostSelector()
    props2 = {"round_robin_host_weight_pairs": "db-7:2"}
    assert [selector.get_host([plain, other], READER, props2).host for _ in range(3)] == [
        "db-7.example.com",
        "db-7.example.com",
        "db-8.example.com",
    ]


# --- weighted random ----------------------------------------------------------------------------------


def test_weighted_random_follows_the_weights() -> None:
    random.seed(11)
    props = {
        "weighted_random_host_weight_pairs": "instance-2:1,instance-3:8",
        "weighted_random_default_weight": 1,
    }
    picks = collections.Counter(
        ids([WeightedRandomHostSelector().get_host(cluster(), READER, props) for _ in range(2000)])
    )
    assert set(picks) == {"instance-2", "instance-3", "instance-5"}
    assert 0.7 < picks["instance-3"] / 2000 < 0.9  # 8 of 10 expected
    assert picks["instance-2"] < 400 and picks["instance-5"] < 400


def test_weighted_random_without_weights_is_uniform() -> None:
    random.seed(3)
    picks = collections.Counter(
        ids([WeightedRandomHostSelector().get_host(cluster(), READER, {}) for _ in range(600)])
    )
    assert set(picks) == {"instance-2", "instance-3", "instance-5"} and min(picks.values()) > 120


# --- least connections, highest weight ----------------------------------------------------------------


def test_least_connections_picks_the_least_used_host() -> None:
    counts = {"instance-2": 3, "instance-3": 1, "instance-5": 2}
    selector = LeastConnectionsHostSelector(lambda h: counts[h.host_id or ""])
    assert selector.get_host(cluster(), READER, {}).host_id == "instance-3"
    counts["instance-3"] = 5
    assert selector.get_host(cluster(), READER, {}).host_id == "instance-5"


def test_least_connections_breaks_ties_among_the_least_used_only() -> None:
    random.seed(5)
    counts = {"instance-2": 0, "instance-3": 4, "instance-5": 0}
    selector = LeastConnectionsHostSelector(lambda h: counts[h.host_id or ""])
    picks = collections.Counter(ids([selector.get_host(cluster(), READER, {}) for _ in range(200)]))
    assert set(picks) == {"instance-2", "instance-5"}


def test_highest_weight_picks_the_heaviest_available_host() -> None:
    hosts = [
        host(1, WRITER, weight=900),
        host(2, weight=10),
        host(3, weight=70),
        host(4, weight=99, up=False),
    ]
    assert HighestWeightHostSelector().get_host(hosts, READER, {}).host_id == "instance-3"
    tie = [host(5, weight=70), *hosts]
    assert HighestWeightHostSelector().get_host(tie, READER, {}).host_id == "instance-3"  # first in order


# --- configuration --------------------------------------------------------------------------------------


def test_weight_pairs_parse_and_reject_bad_values() -> None:
    assert parse_weight_pairs(" a:1, b:4 ,") == {"a": 1, "b": 4}
    assert parse_weight_pairs("") == {}
    for bad in ("a", "a:0", "a:x", ":3", "a:-1"):
        with pytest.raises(ValueError):
            parse_weight_pairs(bad)
    with pytest.raises(ConfigurationError, match="round_robin_host_weight_pairs"):
        ROUND_ROBIN_HOST_WEIGHT_PAIRS.convert("instance-1:0")
    with pytest.raises(ConfigurationError, match="weighted_random_host_weight_pairs"):
        WEIGHTED_RANDOM_HOST_WEIGHT_PAIRS.convert("instance-1")
    with pytest.raises(ConfigurationError, match="must be >= 1"):
        ROUND_ROBIN_DEFAULT_WEIGHT.convert("0")


def test_selector_for_names_every_strategy_and_rejects_unknown_ones() -> None:
    assert set(BUILTIN_STRATEGIES) == {
        "random",
        "round_robin",
        "weighted_random",
        "least_connections",
        "highest_weight",
    }
    for strategy in BUILTIN_STRATEGIES:
        assert selector_for(strategy, lambda h: 0).get_host(cluster(), READER, {}).role is READER
    with pytest.raises(ConfigurationError, match="Did you mean 'round_robin'"):
        selector_for("round_robbin")
    with pytest.raises(ConfigurationError, match="counter"):
        selector_for("least_connections")


async def test_bad_weight_pairs_fail_at_connect_before_any_io() -> None:
    import psycopg

    from awsasyncwrap import AsyncAwsConnection

    with pytest.raises(ConfigurationError, match="round_robin_host_weight_pairs"):
        await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect,
            "host=192.0.2.1 connect_timeout=1",
            plugins="read_write_splitting",
            round_robin_host_weight_pairs="instance-1:zero",
        )
