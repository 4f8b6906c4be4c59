"""``limitless`` on a PostgreSQL testbed with an emulated shard group (routers with settable load)."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import psycopg
import pytest
import pytest_asyncio

from awsasyncwrap import AsyncAwsConnection, ConfigurationError, release_resources
from awsasyncwrap.plugins.limitless import limitless_monitors
from awsasyncwrap.testbed import LimitlessShardGroup, Testbed
from polling import until

pytestmark = pytest.mark.timeout(90)

INTERVAL_MS = 200


@pytest_asyncio.fixture(loop_scope="session")
async def group(pg_server: Testbed) -> AsyncIterator[LimitlessShardGroup]:
    shard_group = await LimitlessShardGroup.create(pg_server, routers=3)
    try:
        yield shard_group
    finally:
        await release_resources()
        await shard_group.aclose()


async def _connect(group: LimitlessShardGroup, **props: Any) -> Any:
    tb = group.testbed
    extra: dict[str, Any] = {
        "plugins": "limitless",
        "autocommit": True,
        "limitless_transaction_router_monitor_interval_ms": INTERVAL_MS,
        **props,
    }
    return await AsyncAwsConnection.connect(
        psycopg.AsyncConnection.connect, tb.dsn((group.host, tb.port)), **extra
    )


async def _open(group: LimitlessShardGroup, count: int) -> list[Any]:
    return [await _connect(group) for _ in range(count)]


async def _close(conns: list[Any]) -> None:
    for conn in conns:
        await conn.close()


def _spread(group: LimitlessShardGroup, conns: list[Any]) -> list[int]:
    """How many of ``conns`` each router holds (the address each driver connection went to)."""
    hosts = [AsyncAwsConnection.of(c).target_connection.info.host for c in conns]
    return [hosts.count(router) for router in group.routers]


async def test_connections_spread_by_load(group: LimitlessShardGroup) -> None:
    for index, load in enumerate((0.0, 0.5, 0.9)):  # weights 10, 5, 1
        await group.set_load(index, load)
    random.seed(20261204)
    conns = await _open(group, 48)
    try:
        spread = _spread(group, conns)
        assert sum(spread) == 48  # every connection is on a router, none through the endpoint
        assert spread[0] > spread[1] > spread[2], spread
    finally:
        await _close(conns)


async def test_a_killed_router_is_avoided_and_its_calls_fail_cleanly(group: LimitlessShardGroup) -> None:
    conns = await _open(group, 6)  # equal loads: spread over the three routers
    try:
        on_first = _spread(group, conns)[0]
        assert on_first > 0
        group.kill_router(0)
        failed = 0
        for conn in conns:
            with anyio.fail_after(5):  # an error, never a hang
                try:
                    await conn.execute("SELECT 1")
                except psycopg.OperationalError:
                    failed += 1
        assert failed == on_first
        more = await _open(group, 12)  # each picks by weight; a refused router is left for the others
        assert group.connections(0) == 0
        assert _spread(group, more)[0] == 0 and sum(_spread(group, more)) == 12
        await _close(more)
    finally:
        group.start_router(0)
        await _close(conns)


async def test_a_load_shift_is_followed_within_one_poll(group: LimitlessShardGroup) -> None:
    first = await _connect(group)  # the monitor runs
    try:
        monitor = limitless_monitors()[0]
        for index, load in enumerate((0.95, 0.95, 0.0)):  # weights 1, 1, 10
            await group.set_load(index, load)
        shifted = time.monotonic()
        await until(
            lambda: [r.weight for r in monitor.routers] == [1, 1, 10], timeout=INTERVAL_MS / 1000 + 2.0
        )
        assert time.monotonic() - shifted < INTERVAL_MS / 1000 + 2.0
        random.seed(4)
        conns = await _open(group, 24)
        new = _spread(group, conns)
        assert new[2] > new[0] + new[1], new
        await _close(conns)
    finally:
        await first.close()


async def test_login_errors_propagate_at_once(group: LimitlessShardGroup) -> None:
    first = await _connect(group)  # routers known
    try:
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="no_such_role"):
            await _connect(group, user="no_such_role")
        assert time.monotonic() - t0 < 2.0
    finally:
        await first.close()


async def test_one_monitor_per_shard_group_and_none_after_release(group: LimitlessShardGroup) -> None:
    conns = await _open(group, 5)
    try:
        monitors = limitless_monitors()
        assert len(monitors) == 1 and monitors[0].task_count == 1
    finally:
        await _close(conns)
    await release_resources()
    assert limitless_monitors() == []


async def test_a_server_without_routers_is_a_clear_error(pg_server: Testbed) -> None:
    with pytest.raises(ConfigurationError, match="not an Aurora PostgreSQL Limitless shard group"):
        await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect, pg_server.dsn(), plugins="limitless", autocommit=True
        )
    await release_resources()


async def test_aiomysql_is_refused(mariadb_server: Testbed) -> None:
    import aiomysql

    with pytest.raises(ConfigurationError, match="Aurora PostgreSQL Limitless"):
        await AsyncAwsConnection.connect(
            aiomysql.connect, **mariadb_server.connect_kwargs(), plugins="limitless"
        )
