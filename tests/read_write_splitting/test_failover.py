"""read_write_splitting together with failover: after a writer failover the next switches land right."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import AsyncAwsConnection, FailoverSuccessError, TransactionResolutionUnknownError
from awsasyncwrap.plugins.read_write_splitting import ReadWriteSplittingPlugin

from ._helpers import Db, plugin_of

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

FAST: dict[str, Any] = {"failover_timeout_sec": 30, "cluster_topology_refresh_rate_ms": 500}


async def _run_retrying(db: Db, conn: AsyncAwsConnection, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` (a read); after a failover error (the connection moved) run it again: a read may be run
    again whether it never reached the server (FailoverSuccessError) or its outcome is unknown."""
    try:
        return await db.run(conn, sql)
    except (FailoverSuccessError, TransactionResolutionUnknownError):
        return await db.run(conn, sql)


async def test_writer_failover_while_on_the_writer(db: Db) -> None:
    conn = await db.connect(**FAST)
    try:
        await conn.set_read_only(True)
        first_reader = await db.host_id(conn)
        await conn.set_read_only(False)
        old_writer = db.writer_id
        report = await db.tb.failover(to=first_reader)  # the reader we cached becomes the writer
        with pytest.raises(FailoverSuccessError):
            await db.run(conn, "SELECT 1")
        assert report.new_writer == first_reader
        assert await db.host_id(conn) == first_reader and not await db.is_reader(conn)
        await conn.set_read_only(True)  # the cached reader is on the new writer now: not reused
        landed = await db.host_id(conn)
        assert landed not in (first_reader, old_writer)
        assert await db.is_reader(conn)
        await conn.set_read_only(False)
        assert await db.host_id(conn) == first_reader
    finally:
        await conn.close()


async def test_writer_failover_while_on_a_reader(db: Db) -> None:
    conn = await db.connect(**FAST)
    try:
        await conn.set_read_only(True)
        reader = await db.host_id(conn)
        other = next(i for i in db.tb.readers if i.id != reader)
        await db.tb.failover(to=other)
        assert (await _run_retrying(db, conn, "SELECT 1"))[0][0] == 1  # the reader is alive
        await conn.set_read_only(False)
        # the cached writer connection was on the dead instance: at most one failover, then the new writer
        assert str((await _run_retrying(db, conn, _host_sql(db)))[0][0]) == other.id
        assert not await db.is_reader(conn)
        await conn.set_read_only(True)
        assert await db.is_reader(conn)
        assert await db.host_id(conn) != other.id
    finally:
        await conn.close()


async def test_reader_dies_while_in_use(db: Db) -> None:
    conn = await db.connect(**FAST)
    try:
        await conn.set_read_only(True)
        reader = await db.host_id(conn)
        await db.tb.kill(reader)
        await _run_retrying(db, conn, "SELECT 1")  # failover (strict_writer) puts us on the writer
        assert await db.host_id(conn) == db.writer_id
        plugin = plugin_of(conn, ReadWriteSplittingPlugin)
        assert plugin.reader_connection is None  # the dead reader connection is forgotten
        await conn.set_read_only(True)
        landed = await db.host_id(conn)
        assert landed != reader and await db.is_reader(conn)
    finally:
        await conn.close()


def _host_sql(db: Db) -> str:
    return "SELECT aurora_db_instance_identifier()" if db.pg else "SELECT @@report_host"
