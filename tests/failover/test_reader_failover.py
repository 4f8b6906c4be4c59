"""Reader failover: reader_or_writer and strict_reader move a reader connection to another reader."""

from __future__ import annotations

import pytest

from awsasyncwrap import FailoverSuccessError

from ._helpers import Cluster, link_gone

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


async def _commit_rows(c: Cluster, values: range) -> set[int]:
    """Commit ``values`` on the writer and wait until every reader has them."""
    conn = await c.connect(c.tb.writer)
    try:
        for v in values:
            await c.insert(conn, v)
    finally:
        await conn.close()
    await c.tb.wait_replicated()
    return set(values)


async def _visible(c: Cluster, conn: object) -> set[int]:
    return {int(r[0]) for r in await c.run(conn, f"SELECT id FROM {c.table}")}


@pytest.mark.parametrize("mode", ["reader_or_writer", "strict_reader"])
async def test_reader_fails_over_to_another_reader(cluster: Cluster, mode: str) -> None:
    c = cluster
    committed = await _commit_rows(c, range(5))
    first, other = c.tb.readers[0], c.tb.readers[1]
    conn = await c.connect(first, failover_mode=mode)
    try:
        assert await c.host_id(conn) == first.id
        await c.tb.kill(first)
        await link_gone(conn)
        with pytest.raises(FailoverSuccessError):
            await c.run(conn, "SELECT 1")
        landed = await c.host_id(conn)
        assert landed != first.id
        if mode == "strict_reader":
            assert landed == other.id and await c.is_reader(conn)
        else:
            assert landed in (other.id, c.tb.writer.id)
        assert await _visible(c, conn) == committed  # the new host has every committed row
    finally:
        await conn.close()
    assert await c.ids() == committed


async def test_reader_or_writer_falls_back_to_writer(cluster: Cluster) -> None:
    c = cluster
    committed = await _commit_rows(c, range(3))
    r1, r2 = c.tb.readers
    conn = await c.connect(r1, failover_mode="reader_or_writer", failover_timeout_sec=20)
    try:
        await c.tb.kill(r2)
        await c.tb.kill(r1)
        await link_gone(conn)
        with pytest.raises(FailoverSuccessError):
            await c.run(conn, "SELECT 1")
        assert await c.host_id(conn) == c.tb.writer.id
        assert await _visible(c, conn) == committed
    finally:
        await conn.close()
    assert await c.ids() == committed


async def test_reader_failover_after_writer_failover(cluster: Cluster) -> None:
    """A reader connection whose reader was promoted keeps working (it now reads from the writer)."""
    c = cluster
    committed = await _commit_rows(c, range(3))
    target = c.tb.readers[0]
    conn = await c.connect(target, failover_mode="strict_reader")
    try:
        await c.tb.failover(to=target)  # the reader we are on becomes the writer: no failure for us
        assert (await c.run(conn, "SELECT 1"))[0][0] == 1
        assert await c.host_id(conn) == target.id
        assert await _visible(c, conn) == committed
    finally:
        await conn.close()
    assert await c.ids() == committed
