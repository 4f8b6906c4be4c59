"""gdb_failover and gdb_rw on real servers: a regional cluster (no regions in its topology) and the testbed's
Global Database emulation."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from awsasyncwrap import (
    FailoverFailedError,
    FailoverSuccessError,
    ReadWriteSplittingError,
    TransactionResolutionUnknownError,
    release_resources,
)
from awsasyncwrap.plugins.gdb_failover import GdbFailoverPlugin, GdbMode
from awsasyncwrap.testbed import Testbed
from wrapped import Db

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]


def gdb_plugin(conn: Any) -> GdbFailoverPlugin:
    return next(p for p in conn.plugin_service.plugins if isinstance(p, GdbFailoverPlugin))


# --- a regional cluster: gdb_failover in strict-writer mode is the failover plugin ---------------------


async def test_regional_cluster_strict_writer_follows_the_new_writer(cluster_testbed: Testbed) -> None:
    db = Db(cluster_testbed)
    conn = await db.connect(plugins="gdb_failover", failover_home_region="us-east-1")
    try:
        plugin = gdb_plugin(conn)
        assert plugin.home_region == "us-east-1"
        assert plugin.active_mode is GdbMode.HOME_READER_OR_WRITER  # an IP address URL: the AWS default
        conn2 = await db.connect(
            plugins="gdb_failover",
            failover_home_region="us-east-1",
            active_home_failover_mode="strict-writer",
        )
        try:
            report = await cluster_testbed.failover()
            with pytest.raises(FailoverSuccessError):
                await db.run(conn2, "SELECT 1")
            assert await db.host_id(conn2) == report.new_writer
            assert not await db.is_reader(conn2)
        finally:
            await conn2.close()
    finally:
        await conn.close()
        await release_resources()


async def test_a_mode_without_candidates_fails_naming_mode_and_home(cluster_testbed: Testbed) -> None:
    # a regional cluster reports no regions: no reader is known to be in the home region
    db = Db(cluster_testbed)
    conn = await db.connect(
        plugins="gdb_failover",
        failover_home_region="us-east-1",
        active_home_failover_mode="strict-home-reader",
        failover_timeout_sec=1,
    )
    try:
        await db.run(conn, "SELECT 1")
        await cluster_testbed.kill(cluster_testbed.writer)
        with pytest.raises(FailoverFailedError, match=r"strict-home-reader.*us-east-1"):
            await db.run(conn, "SELECT 1")
    finally:
        await conn.close()
        await release_resources()


# --- the testbed's Global Database (tests/global/conftest.py): us-east-1 (primary: writer and one reader)
# --- and eu-west-1 (two readers), healed with the writer home before each test ----------------------

#: short detection of a blackholed host (host_monitoring), short connect attempts into a cut-off region
FAST: dict[str, Any] = {
    "failure_detection_time_ms": 500,
    "failure_detection_interval_ms": 200,
    "failure_detection_count": 2,
    "failover_connect_timeout_sec": 1,
    "wrapper_connect_timeout_sec": 2,
    "failover_timeout_sec": 30,
}
LOST = (FailoverSuccessError, TransactionResolutionUnknownError)


@pytest.fixture
def db(gdb: Testbed) -> Db:
    return Db(gdb)


async def on_host(db: Db, conn: Any) -> tuple[str, str, bool]:
    """(instance id, its region, whether it is a reader) of the server ``conn`` is on."""
    host = await db.host_id(conn)
    return host, db.tb.region_of(host), await db.is_reader(conn)


async def connect_gdb(db: Db, target: Any, **props: Any) -> Any:
    settings = {"plugins": "gdb_failover,host_monitoring", "failover_home_region": "us-east-1", **FAST}
    return await db.connect(target, **{**settings, **props})


async def test_topology_reports_regions(db: Db) -> None:
    conn = await connect_gdb(db, db.tb.writer)
    try:
        await db.run(conn, "SELECT 1")
        hosts = conn.plugin_service.hosts
        assert {h.host_id: h.region for h in hosts} == {i.id: db.tb.region_of(i) for i in db.tb.instances}
    finally:
        await conn.close()


async def test_home_writer_crash_new_writer_in_home(db: Db) -> None:
    tb = db.tb
    conn = await connect_gdb(db, tb.writer, active_home_failover_mode="strict-writer")
    try:
        await db.run(conn, "SELECT 1")
        report = await tb.failover()  # a regional failover: the primary region promotes one of its readers
        with pytest.raises(LOST), anyio.fail_after(30):
            await db.run(conn, "SELECT 1")
        host, region, reader = await on_host(db, conn)
        assert (host, region, reader) == (report.new_writer, "us-east-1", False)
    finally:
        await conn.close()


async def test_home_cut_off_strict_writer_follows_the_new_global_primary(db: Db) -> None:
    tb = db.tb
    conn = await connect_gdb(
        db, tb.writer, active_home_failover_mode="strict-writer", inactive_home_failover_mode="strict-writer"
    )
    try:
        await db.run(conn, "SELECT 1")
        report = await tb.global_failover("eu-west-1")
        with pytest.raises(LOST), anyio.fail_after(40):
            await db.run(conn, "SELECT 1")
        host, region, reader = await on_host(db, conn)
        assert (host, region, reader) == (report.new_writer, "eu-west-1", False)
    finally:
        await conn.close()


async def test_home_reader_or_writer_stays_on_home_readers(db: Db) -> None:
    # the home writer crashes (no promotion yet): the home reader is taken, never a reader in eu-west-1
    tb = db.tb
    home_reader = next(i for i in tb.regions["us-east-1"] if i.role == "reader")
    conn = await connect_gdb(db, tb.writer, active_home_failover_mode="home-reader-or-writer")
    try:
        await db.run(conn, "SELECT 1")
        await tb.kill(tb.writer)
        with pytest.raises(LOST), anyio.fail_after(30):
            await db.run(conn, "SELECT 1")
        assert await on_host(db, conn) == (home_reader.id, "us-east-1", True)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("mode", "lands_in"), [("strict-home-reader", None), ("any-reader-or-writer", "eu-west-1")]
)
async def test_home_cut_off_per_mode(db: Db, mode: str, lands_in: str | None) -> None:
    tb = db.tb
    reader = next(i for i in tb.regions["us-east-1"] if i.role == "reader")
    conn = await connect_gdb(
        db,
        reader,
        active_home_failover_mode=mode,
        inactive_home_failover_mode=mode,
        failover_timeout_sec=4,
    )
    try:
        await db.run(conn, "SELECT 1")
        await tb.global_failover("eu-west-1")
        if lands_in is None:  # only home readers would do, and the home region is unreachable
            with pytest.raises(FailoverFailedError, match=mode), anyio.fail_after(30):
                await db.run(conn, "SELECT 1")
        else:
            with pytest.raises(LOST), anyio.fail_after(30):
                await db.run(conn, "SELECT 1")
            assert (await on_host(db, conn))[1] == lands_in
    finally:
        await conn.close()


async def test_gdb_rw_readers_stay_in_the_home_region(db: Db) -> None:
    tb = db.tb
    for home in ("us-east-1", "eu-west-1"):
        for _ in range(4):  # a new connection each time: the reader is picked again
            conn = await db.connect(tb.writer, plugins="gdb_rw", gdb_rw_home_region=home, **FAST)
            try:
                await conn.set_read_only(True)
                host, region, reader = await on_host(db, conn)
                assert region == home and reader, (home, host)
            finally:
                await conn.close()


async def test_gdb_rw_refuses_a_writer_outside_home(db: Db) -> None:
    tb = db.tb
    away_reader = tb.regions["eu-west-1"][0]
    conn = await db.connect(away_reader, plugins="gdb_rw", gdb_rw_home_region="eu-west-1", **FAST)
    try:
        with pytest.raises(ReadWriteSplittingError, match="outside the home region eu-west-1"):
            await conn.set_read_only(False)
        assert (await on_host(db, conn))[1:] == ("eu-west-1", True)  # still usable, where it was
    finally:
        await conn.close()
    conn = await db.connect(
        away_reader,
        plugins="gdb_rw",
        gdb_rw_home_region="eu-west-1",
        gdb_rw_restrict_writer_to_home_region=False,
        **FAST,
    )
    try:
        await conn.set_read_only(False)
        assert (await on_host(db, conn))[1:] == ("us-east-1", False)
    finally:
        await conn.close()


async def test_gdb_rw_write_forwarding_keeps_the_home_reader(db: Db) -> None:
    tb = db.tb
    away_reader = tb.regions["eu-west-1"][0]
    conn = await db.connect(
        away_reader,
        plugins="gdb_rw",
        gdb_rw_home_region="eu-west-1",
        gdb_enable_global_write_forwarding=True,
        **FAST,
    )
    try:
        await conn.set_read_only(True)
        await conn.set_read_only(False)  # the writer is in us-east-1: the eu-west-1 cluster forwards writes
        assert (await on_host(db, conn))[1:] == ("eu-west-1", True)
    finally:
        await conn.close()


async def test_accessible_regions_keep_failover_out_of_other_regions(db: Db) -> None:
    tb = db.tb
    conn = await connect_gdb(
        db,
        tb.writer,
        active_home_failover_mode="strict-writer",
        inactive_home_failover_mode="strict-writer",
        gdb_accessible_regions="us-east-1",
    )
    try:
        await db.run(conn, "SELECT 1")
        await tb.global_failover("eu-west-1")
        with pytest.raises(FailoverFailedError, match="outside gdb_accessible_regions"), anyio.fail_after(40):
            await db.run(conn, "SELECT 1")
    finally:
        await conn.close()
