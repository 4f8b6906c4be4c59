"""What the application sets on the wrapped connection survives a read/write switch and a failover:
attributes, notice / notify handlers, adapters and types registered through ``conn.adapters``, LISTEN
channels (psycopg); the default cursor class (aiomysql)."""

from __future__ import annotations

import enum
import itertools
import time
from typing import Any, cast

import aiomysql
import psycopg
import pytest
from psycopg import sql
from psycopg.abc import AdaptContext
from psycopg.adapt import Dumper
from psycopg.rows import dict_row
from psycopg.types.enum import EnumInfo, register_enum

from awsasyncwrap import (
    AsyncAwsConnection,
    AsyncAwsMysqlConnection,
    FailoverFailedError,
    FailoverSuccessError,
)
from awsasyncwrap._carry_over import ConnectionChange

from ._helpers import Db, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

_names = itertools.count(1)


class Mood(enum.Enum):
    sad = "sad"
    happy = "happy"


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


class PointDumper(Dumper):
    oid = psycopg.adapters.types["text"].oid

    def dump(self, obj: Point) -> bytes:
        return f"({obj.x},{obj.y})".encode()


class MyCursor(psycopg.AsyncCursor[Any]):
    pass


class _Seen:
    """What the handlers received."""

    def __init__(self) -> None:
        self.notices: list[str] = []
        self.notifies: list[tuple[str, str]] = []

    def notice(self, diag: Any) -> None:
        self.notices.append(diag.message_primary)

    def notify(self, n: Any) -> None:
        self.notifies.append((n.channel, n.payload))


async def _direct_pg(db: Db) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(db.tb.dsn(db.tb.writer, direct=True), autocommit=True)


async def _check_pg(db: Db, conn: AsyncAwsConnection, seen: _Seen, mood: str, *, listening: bool) -> None:
    driver_conn = conn.target_connection
    assert driver_conn.row_factory is dict_row
    assert driver_conn.prepare_threshold is None
    assert driver_conn.prepared_max == 7
    assert driver_conn.cursor_factory is MyCursor
    assert conn.row_factory is dict_row and conn.prepare_threshold is None
    cur = conn.cursor()
    assert isinstance(cur.target_cursor, MyCursor)
    await cur.execute("SELECT 1 AS one")
    assert await cur.fetchone() == {"one": 1}
    tag = f"hello {time.monotonic()}"
    await cur.execute(sql.SQL("DO $$BEGIN RAISE NOTICE {}; END$$").format(sql.Literal(tag)))
    assert seen.notices[-1] == tag
    await cur.execute(
        sql.SQL("SELECT 'happy'::{} AS m, %s::text AS p").format(sql.Identifier(mood)), (Point(1, 2),)
    )
    assert await cur.fetchone() == {"m": Mood.happy, "p": "(1,2)"}
    if listening:  # a NOTIFY from elsewhere reaches the handler on the current connection
        payload = f"p{time.monotonic()}"
        async with await _direct_pg(db) as other:
            await other.execute("SELECT pg_notify('chan_a', %s), pg_notify('Chan B', %s)", (payload, payload))

        async def got_both() -> bool:
            await cur.execute("SELECT 1")
            return {("chan_a", payload), ("Chan B", payload)} <= set(seen.notifies)

        await until(got_both, 10)
    await cur.close()


@pytest.mark.parametrize("engine", ["postgres"])
async def test_pg_state_survives_switch_and_failover(db: Db) -> None:
    mood = f"mood_{next(_names)}_{int(time.time())}"
    async with await _direct_pg(db) as admin:
        await admin.execute(sql.SQL("CREATE TYPE {} AS ENUM ('sad', 'happy')").format(sql.Identifier(mood)))
    await db.tb.wait_replicated()
    conn = await db.connect()
    seen = _Seen()
    try:
        conn.row_factory = dict_row
        conn.prepare_threshold = None
        conn.prepared_max = 7
        conn.cursor_factory = MyCursor
        conn.add_notice_handler(seen.notice)
        conn.add_notify_handler(seen.notify)
        # the proxy stands in for the psycopg connection as an adapt context (registrations carried over)
        register_enum(await EnumInfo.fetch(conn.target_connection, mood), cast("AdaptContext", conn), Mood)
        conn.adapters.register_dumper(Point, PointDumper)
        await conn.execute("LISTEN chan_a")
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier("Chan B")))
        await conn.execute("  /* not a channel */ LISTEN chan_c; UNLISTEN chan_c")
        assert conn.plugin_service.carry_over.channels == {"chan_a", "Chan B"}
        await _check_pg(db, conn, seen, mood, listening=True)

        writer = conn.target_connection
        await conn.set_read_only(True)  # a reader connection: everything but LISTEN (a standby cannot)
        assert conn.target_connection is not writer
        await _check_pg(db, conn, seen, mood, listening=False)
        await conn.set_read_only(False)
        assert conn.target_connection is writer
        await _check_pg(db, conn, seen, mood, listening=True)

        report = await db.tb.failover()
        with pytest.raises(FailoverSuccessError):
            await conn.execute("SELECT 1")
        assert conn.current_host is not None and conn.current_host.host_id == report.new_writer
        assert conn.target_connection is not writer
        await _check_pg(db, conn, seen, mood, listening=True)

        conn.remove_notice_handler(seen.notice)  # removal is carried over too
        await conn.execute("UNLISTEN *")
        assert conn.plugin_service.carry_over.channels == frozenset()
        await conn.set_read_only(True)
        await conn.set_read_only(False)
        before = len(seen.notices)
        await conn.execute("DO $$BEGIN RAISE NOTICE 'unheard'; END$$")
        assert len(seen.notices) == before
    finally:
        await conn.close()


@pytest.mark.parametrize("engine", ["postgres"])
async def test_pg_listen_reissued_in_a_transaction_mode_connection(db: Db) -> None:
    """autocommit off: the re-issued LISTEN is committed (it only takes effect at commit)."""
    conn = await db.connect(autocommit=False)
    seen = _Seen()
    try:
        conn.add_notify_handler(seen.notify)
        await conn.execute("LISTEN chan_tx")
        await conn.commit()
        report = await db.tb.failover()
        with pytest.raises(FailoverSuccessError):
            await conn.execute("SELECT 1")
        assert await db.host_id(conn) == report.new_writer
        await conn.rollback()
        async with await _direct_pg(db) as other:
            await other.execute("NOTIFY chan_tx, 'after failover'")

        async def got() -> bool:
            await conn.execute("SELECT 1")
            await conn.rollback()
            return ("chan_tx", "after failover") in seen.notifies

        await until(got, 10)
    finally:
        await conn.close()


@pytest.mark.parametrize("engine", ["mariadb"])
async def test_mysql_cursorclass_survives_switch_and_failover(db: Db) -> None:
    conn = await db.connect()
    try:
        assert isinstance(conn, AsyncAwsMysqlConnection)
        conn.cursorclass = aiomysql.DictCursor

        async def check() -> None:
            assert conn.target_connection.cursorclass is aiomysql.DictCursor
            cur = await conn.cursor()
            await cur.execute("SELECT 1 AS one")
            assert await cur.fetchone() == {"one": 1}
            await cur.close()

        await check()
        await conn.set_read_only(True)
        await check()
        await conn.set_read_only(False)
        await check()
        report = await db.tb.failover()
        with pytest.raises(FailoverSuccessError):
            await (await conn.cursor()).execute("SELECT 1")
        assert conn.current_host is not None and conn.current_host.host_id == report.new_writer
        await check()
        with pytest.raises(AttributeError, match="row_factory"):
            conn.row_factory = dict_row
    finally:
        await conn.close()


async def test_pooled_connection_goes_back_to_the_pool_pristine(db: Db) -> None:
    """Internal pools are shared: what one wrapped connection set must not reach another through the pool."""
    props: dict[str, Any] = {"rw_internal_pools": True, "reader_host_selector_strategy": "round_robin"}
    a = await db.connect(**props)
    b = await db.connect(**props)
    name, value = ("row_factory", dict_row) if db.pg else ("cursorclass", aiomysql.DictCursor)
    try:
        setattr(a, name, value)
        await a.set_read_only(True)
        pooled = a.target_connection
        assert getattr(pooled, name) is value
        await a.set_read_only(False)  # the reader connection goes back to its pool
        for _ in range(len(db.reader_ids)):
            await b.set_read_only(True)
            if b.target_connection is pooled:
                break
            await b.set_read_only(False)
        assert b.target_connection is pooled
        assert getattr(pooled, name) is not value
        assert await db.run(b, "SELECT 1") == [(1,)]
        await b.set_read_only(False)
        await a.set_read_only(True)  # and a gets its setting again when it takes a pooled connection
        assert getattr(a.target_connection, name) is value
    finally:
        await a.close()
        await b.close()


async def test_preparing_the_new_connection_fails_the_failover_cleanly(db: Db) -> None:
    """An error while the new connection gets the carried state: FailoverFailedError naming it."""
    conn = await db.connect()
    carry_over = conn.plugin_service.carry_over

    async def broken(change: ConnectionChange) -> None:
        raise RuntimeError("could not prepare")

    carry_over.apply = broken  # type: ignore[method-assign]
    try:
        await db.tb.failover()
        with pytest.raises(FailoverFailedError, match="RuntimeError"):
            await db.run(conn, "SELECT 1")
    finally:
        await conn.close()
