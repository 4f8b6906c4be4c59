"""srw: read/write splitting between two plain endpoints (cluster + reader endpoint; a single server)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from awsasyncwrap import ConfigurationError, ReadWriteSplittingError
from awsasyncwrap.plugins.srw import SimpleReadWriteSplittingPlugin

from ._helpers import Db, plugin_of

pytestmark = pytest.mark.timeout(60)


def _ep(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


def endpoint_props(db: Db, **extra: Any) -> dict[str, Any]:
    """srw between the cluster endpoint and the reader endpoint (no topology, no host pattern)."""
    props: dict[str, Any] = {
        "srw_write_endpoint": _ep(db.tb.cluster_endpoint),
        "srw_read_endpoint": _ep(db.tb.reader_endpoint),
        **extra,
    }
    if not db.pg:
        props["wrapper_dialect"] = "mariadb"  # role check with @@read_only, as on plain MariaDB
    return props


@pytest.mark.cluster
async def test_switches_between_the_cluster_and_reader_endpoints(db: Db) -> None:
    conn = await db.connect("cluster", plugins="srw", topology=False, **endpoint_props(db))
    try:
        writer = conn.target_connection
        await conn.set_read_only(True)
        assert await db.is_reader(conn) and await db.host_id(conn) in db.reader_ids
        assert conn.current_host is not None and conn.current_host.url == _ep(db.tb.reader_endpoint)
        reader = conn.target_connection
        await conn.set_read_only(False)
        assert conn.target_connection is writer
        assert await db.host_id(conn) == db.writer_id
        await conn.set_read_only(True)
        assert conn.target_connection is reader
    finally:
        await conn.close()
    assert writer.closed and reader.closed


@pytest.mark.cluster
async def test_unreachable_read_endpoint_falls_back_to_the_writer(
    db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    props = endpoint_props(db, srw_connect_retry_timeout_ms=300, srw_connect_retry_interval_ms=50)
    conn = await db.connect("cluster", plugins="srw", topology=False, **props)
    try:
        db.tb.net("reader", "refuse")
        with caplog.at_level(logging.WARNING, logger="awsasyncwrap"):
            await conn.set_read_only(True)
        assert await db.host_id(conn) == db.writer_id
        assert any("no reader could be reached" in r.getMessage() for r in caplog.records)
    finally:
        await conn.close()


@pytest.mark.cluster
async def test_srw_refuses_to_switch_inside_a_transaction(db: Db) -> None:
    conn = await db.connect("cluster", plugins="srw", topology=False, **endpoint_props(db))
    try:
        await db.begin(conn)
        with pytest.raises(ReadWriteSplittingError, match="transaction"):
            await conn.set_read_only(True)
        await conn.rollback()
    finally:
        await conn.close()


def single_props(db: Db, **extra: Any) -> dict[str, Any]:
    """srw on one plain server reached two ways: through its proxy (write) and directly (read)."""
    inst = db.tb.writer
    return {
        "srw_write_endpoint": _ep(db.tb.address_of(inst)),
        "srw_read_endpoint": _ep(db.tb.address_of(inst, direct=True)),
        **extra,
    }


async def test_plain_server_with_two_endpoints(single: Db) -> None:
    db = single
    inst = db.tb.writer
    conn = await db.connect(
        inst, plugins="srw", topology=False, **single_props(db, srw_verify_new_connections=False)
    )
    try:
        plugin = plugin_of(conn, SimpleReadWriteSplittingPlugin)
        write_session = await db.backend_id(conn)
        await conn.set_read_only(True)
        assert conn.current_host is not None and conn.current_host.url == plugin.read_endpoint.url
        read_session = await db.backend_id(conn)
        assert read_session != write_session
        await conn.set_read_only(False)
        assert conn.current_host.url == plugin.write_endpoint.url
        assert await db.backend_id(conn) == write_session
        await conn.set_read_only(True)
        assert await db.backend_id(conn) == read_session
    finally:
        await conn.close()


async def test_plain_server_verified_read_endpoint_is_no_reader(
    single: Db, caplog: pytest.LogCaptureFixture
) -> None:
    db = single
    props = single_props(db, srw_connect_retry_timeout_ms=200, srw_connect_retry_interval_ms=50)
    conn = await db.connect(db.tb.writer, plugins="srw", topology=False, **props)
    try:
        session = await db.backend_id(conn)
        with caplog.at_level(logging.WARNING, logger="awsasyncwrap"):
            await conn.set_read_only(True)
        assert await db.backend_id(conn) == session  # verified: a writer is no reader; stays
        assert any("no reader could be reached" in r.getMessage() for r in caplog.records)
    finally:
        await conn.close()


async def test_initial_connection_role_is_verified(single: Db, caplog: pytest.LogCaptureFixture) -> None:
    db = single
    props = single_props(
        db,
        srw_verify_initial_connection_type="reader",
        srw_connect_retry_timeout_ms=200,
        srw_connect_retry_interval_ms=50,
    )
    with caplog.at_level(logging.WARNING, logger="awsasyncwrap"):
        conn = await db.connect(db.tb.writer, plugins="srw", topology=False, **props)
    try:
        assert (await db.run(conn, "SELECT 1"))[0][0] == 1  # unverified, but used
        assert any("initial connection" in r.getMessage() for r in caplog.records)
    finally:
        await conn.close()


async def test_missing_endpoints_are_a_configuration_error(single: Db) -> None:
    db = single
    with pytest.raises(ConfigurationError, match="srw_read_endpoint"):
        await db.connect(db.tb.writer, plugins="srw", topology=False, srw_write_endpoint="x:1")
    with pytest.raises(ConfigurationError, match="Valid values: reader, writer"):
        await db.connect(
            db.tb.writer,
            plugins="srw",
            topology=False,
            **single_props(db, srw_verify_initial_connection_type="primary"),
        )
