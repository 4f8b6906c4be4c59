"""read_write_splitting on the emulated Aurora clusters: switching, reuse, transactions, fallback."""

from __future__ import annotations

import logging

import pytest

from awsasyncwrap import ReadWriteSplittingError
from awsasyncwrap.plugins.read_write_splitting import ReadWriteSplittingPlugin

from ._helpers import Db, plugin_of

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


async def test_switches_to_a_reader_and_back_to_the_writer(db: Db) -> None:
    conn = await db.connect()
    try:
        assert await db.host_id(conn) == db.writer_id
        await conn.set_read_only(True)
        assert await db.host_id(conn) in db.reader_ids
        assert await db.is_reader(conn)
        assert conn.current_host is not None and conn.current_host.host_id in db.reader_ids
        await conn.set_read_only(False)
        assert await db.host_id(conn) == db.writer_id
        assert not await db.is_reader(conn)
        assert conn.read_only is False or conn.read_only is None
    finally:
        await conn.close()


async def test_writer_and_reader_connections_are_kept_and_reused(db: Db) -> None:
    conn = await db.connect()
    try:
        writer = conn.target_connection
        writer_session = await db.backend_id(conn)
        await conn.set_read_only(True)
        reader = conn.target_connection
        reader_host = await db.host_id(conn)
        reader_session = await db.backend_id(conn)
        assert reader is not writer
        for _ in range(3):
            await conn.set_read_only(False)
            assert conn.target_connection is writer
            assert await db.backend_id(conn) == writer_session
            await conn.set_read_only(True)
            assert conn.target_connection is reader
            assert await db.host_id(conn) == reader_host
            assert await db.backend_id(conn) == reader_session
        await conn.set_read_only(True)  # already there: nothing changes
        assert conn.target_connection is reader
        plugin = plugin_of(conn, ReadWriteSplittingPlugin)
        assert plugin.writer_connection is writer and plugin.reader_connection is reader
    finally:
        await conn.close()
    assert writer.closed and reader.closed  # closing the wrapped connection closes both


async def test_session_settings_follow_the_switch(db: Db) -> None:
    conn = await db.connect()
    try:
        await conn.set_autocommit(False)
        await conn.set_read_only(True)
        assert conn.get_autocommit() is False
        await db.run(conn, "SELECT 1")
        await conn.rollback()
        await conn.set_read_only(False)
        await conn.set_autocommit(True)
        await conn.set_read_only(True)
        assert conn.get_autocommit() is True
        assert await db.is_reader(conn)
    finally:
        await conn.close()


async def test_switching_inside_a_transaction_raises(db: Db) -> None:
    conn = await db.connect()
    try:
        await db.begin(conn)
        with pytest.raises(ReadWriteSplittingError, match=r"transaction is open.*commit or roll back"):
            await conn.set_read_only(True)
        await conn.rollback()
        await conn.set_read_only(True)  # works once the transaction is over
        await db.begin(conn)
        assert await db.is_reader(conn)
        with pytest.raises(ReadWriteSplittingError, match="to the writer"):
            await conn.set_read_only(False)
        assert await db.is_reader(conn)  # unchanged and usable
        await conn.rollback()
        await conn.set_read_only(False)
        assert await db.host_id(conn) == db.writer_id
    finally:
        await conn.close()


async def test_readers_down_fall_back_to_the_writer_with_a_warning(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await db.connect()
    try:
        for inst in db.tb.readers:
            db.tb.net(inst, "refuse")
        with caplog.at_level(logging.WARNING, logger="awsasyncwrap"):
            await conn.set_read_only(True)
        assert await db.host_id(conn) == db.writer_id
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("no reader could be reached" in r.getMessage() for r in warnings)
        for inst in db.tb.readers:
            db.tb.net(inst, "pass")
        await conn.set_read_only(False)
        await conn.set_read_only(True)  # readers are back: the next switch reaches one
        assert await db.host_id(conn) in db.reader_ids
    finally:
        await conn.close()


async def test_fallback_can_be_turned_off(db: Db) -> None:
    conn = await db.connect(rw_fallback_to_writer=False)
    try:
        for inst in db.tb.readers:
            db.tb.net(inst, "refuse")
        with pytest.raises(ReadWriteSplittingError, match="no reader could be reached"):
            await conn.set_read_only(True)
        assert await db.host_id(conn) == db.writer_id  # still usable on the writer
    finally:
        await conn.close()


async def test_initial_connection_to_a_reader_instance(db: Db) -> None:
    reader = db.tb.readers[0]
    conn = await db.connect(reader)
    try:
        await conn.set_read_only(True)  # already on a reader: stays
        assert await db.host_id(conn) == reader.id
        await conn.set_read_only(False)
        assert await db.host_id(conn) == db.writer_id
        await conn.set_read_only(True)
        assert await db.host_id(conn) == reader.id
    finally:
        await conn.close()


async def test_old_cursors_refuse_to_run_after_a_switch(db: Db) -> None:
    from awsasyncwrap import ConnectionReplacedError

    conn = await db.connect()
    try:
        cur = conn.cursor()
        await conn.set_read_only(True)
        with pytest.raises(ConnectionReplacedError):
            await cur.execute("SELECT 1")
    finally:
        await conn.close()
