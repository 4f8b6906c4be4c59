"""Internal per-host pools: switching reuses pooled connections; pools close with release_resources()."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import AsyncAwsConnection, release_resources
from awsasyncwrap._background import registry
from awsasyncwrap.plugins.read_write_splitting import HostPool, ReadWriteSplittingPlugin

from ._helpers import Db, plugin_of, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]

POOLED: dict[str, Any] = {"rw_internal_pools": True}


def pools() -> list[HostPool]:
    return [s for s in registry().services() if isinstance(s, HostPool)]


async def _cycle(db: Db, conn: AsyncAwsConnection) -> str:
    await conn.set_read_only(True)
    landed = await db.host_id(conn)
    await conn.set_read_only(False)
    assert await db.host_id(conn) == db.writer_id
    return landed


async def test_switching_reuses_pooled_connections(db: Db) -> None:
    conn = await db.connect(**POOLED)
    try:
        landed = {await _cycle(db, conn) for _ in range(6)}
        assert landed <= db.reader_ids
        opened = sum(p.opened for p in pools())
        assert 1 <= opened <= len(landed)  # one connection per reader used, however often we switched
        assert sum(p.reused for p in pools()) == 6 - opened
        plugin = plugin_of(conn, ReadWriteSplittingPlugin)
        assert plugin.reader_connection is None  # a pooled reader goes back when we leave it
        assert sum(p.idle_count for p in pools()) == opened
    finally:
        await conn.close()


async def test_pooled_connections_are_shared_between_wrapped_connections(db: Db) -> None:
    first, second = sorted(db.reader_ids)
    props = {**POOLED, "reader_host_selector_strategy": "round_robin"}
    a = await db.connect(**props)
    b = await db.connect(**props)
    try:
        await a.set_read_only(True)
        assert await db.host_id(a) == first
        pooled = a.target_connection
        await a.set_read_only(False)
        await b.set_read_only(True)  # the cycle goes on: the second reader
        assert await db.host_id(b) == second
        await b.set_read_only(False)
        await b.set_read_only(True)  # back to the first reader: a's connection, from the pool
        assert b.target_connection is pooled
        assert await db.host_id(b) == first
    finally:
        await a.close()
        await b.close()
    assert not pooled.closed  # b was on it when it closed: back into the pool, not closed
    await release_resources()
    assert pooled.closed and not pools()


async def test_an_unused_pool_closes_after_its_idle_timeout(db: Db) -> None:
    conn = await db.connect(**POOLED, rw_pool_idle_timeout_ms=300)
    await conn.set_read_only(True)
    pooled = conn.target_connection
    await conn.set_read_only(False)
    (pool,) = pools()
    assert pool.idle_count == 1
    await conn.close()
    await until(lambda: pool.closed and pooled.closed, timeout=5)


async def test_least_connections_counts_pooled_connections_in_use_only(db: Db) -> None:
    props = {**POOLED, "reader_host_selector_strategy": "least_connections"}
    a, b, c = [await db.connect(**props) for _ in range(3)]
    try:
        await a.set_read_only(True)
        first = await db.host_id(a)
        pooled = a.target_connection
        await b.set_read_only(True)
        assert await db.host_id(b) != first  # a is on the first reader
        await a.set_read_only(False)  # a's reader connection is idle in its pool now: it does not count
        await c.set_read_only(True)
        assert await db.host_id(c) == first
        assert c.target_connection is pooled
    finally:
        for conn in (a, b, c):
            await conn.close()
