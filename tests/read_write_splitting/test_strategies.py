"""Reader selection strategies on the real clusters (selection logic: tests/unit/test_host_selectors.py)."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import AsyncAwsConnection, ConfigurationError, HostRole
from awsasyncwrap.plugins.read_write_splitting import ReadWriteSplittingPlugin, tracker

from ._helpers import Db, plugin_of

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


async def _reader_of(db: Db, conn: AsyncAwsConnection) -> str:
    await conn.set_read_only(True)
    return await db.host_id(conn)


async def test_round_robin_takes_turns_across_connections(db: Db) -> None:
    readers = sorted(db.reader_ids)
    conns = [await db.connect(reader_host_selector_strategy="round_robin") for _ in range(4)]
    try:
        picked = [await _reader_of(db, c) for c in conns]
        assert picked == [readers[0], readers[1], readers[0], readers[1]]
    finally:
        for c in conns:
            await c.close()


async def test_round_robin_weights(db: Db) -> None:
    first, second = sorted(db.reader_ids)
    props: dict[str, Any] = {
        "reader_host_selector_strategy": "round_robin",
        "round_robin_host_weight_pairs": f"{first}:2",
    }
    conns = [await db.connect(**props) for _ in range(6)]
    try:
        picked = [await _reader_of(db, c) for c in conns]
        assert picked == [first, first, second] * 2
    finally:
        for c in conns:
            await c.close()


async def test_least_connections_counts_live_connections(db: Db) -> None:
    props: dict[str, Any] = {"reader_host_selector_strategy": "least_connections"}
    a, b, c = [await db.connect(**props) for _ in range(3)]
    try:
        first = await _reader_of(db, a)
        second = await _reader_of(db, b)
        assert {first, second} == db.reader_ids  # the second goes where nobody is
        await a.close()  # the first reader has no connection left
        assert await _reader_of(db, c) == first
        plugin = plugin_of(c, ReadWriteSplittingPlugin)
        hosts = {h.host_id: h for h in c.plugin_service.hosts}
        assert tracker().count(hosts[first]) == 1 and tracker().count(hosts[second]) == 1
        assert plugin.get_host_info_by_strategy(HostRole.READER, "least_connections").host_id in db.reader_ids
    finally:
        for conn in (a, b, c):
            await conn.close()


async def test_random_and_weighted_random_land_on_readers(db: Db) -> None:
    seen: set[str] = set()
    for strategy in ("random", "weighted_random"):
        for _ in range(4):
            conn = await db.connect(reader_host_selector_strategy=strategy)
            try:
                landed = await _reader_of(db, conn)
                assert landed in db.reader_ids and await db.is_reader(conn)
                seen.add(landed)
            finally:
                await conn.close()
    assert seen <= db.reader_ids


async def test_highest_weight_picks_the_heaviest_reader_of_the_topology(db: Db) -> None:
    conn = await db.connect(reader_host_selector_strategy="highest_weight")
    try:
        readers = [h for h in conn.plugin_service.hosts if h.role is HostRole.READER]
        best = max(h.weight for h in readers)
        expected = {h.host_id for h in readers if h.weight == best}
        assert await _reader_of(db, conn) in expected
    finally:
        await conn.close()


async def test_fastest_response_without_its_plugin_is_a_clear_error(db: Db) -> None:
    conn = await db.connect(reader_host_selector_strategy="fastest_response")
    try:
        with pytest.raises(ConfigurationError, match="add fastest_response_strategy to plugins"):
            await conn.set_read_only(True)
        assert await db.host_id(conn) == db.writer_id
    finally:
        await conn.close()


async def test_failover_uses_the_same_selectors(db: Db) -> None:
    """failover_reader_host_selector_strategy is answered by the read/write splitting plugin."""
    conn = await db.connect(failover_reader_host_selector_strategy="round_robin")
    try:
        service = conn.plugin_service
        assert service.accepts_strategy(HostRole.READER, "round_robin")
        picks = [service.get_host_info_by_strategy(HostRole.READER, "round_robin").host_id for _ in range(4)]
        first, second = sorted(db.reader_ids)
        assert picks == [first, second, first, second]
    finally:
        await conn.close()
