"""gdb_failover and gdb_rw on real servers: a regional cluster (no regions in its topology) and the testbed's
Global Database emulation."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import FailoverFailedError, FailoverSuccessError, release_resources
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
