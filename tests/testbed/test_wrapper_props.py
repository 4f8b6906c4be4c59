"""``Testbed.wrapper_props()``: all the wrapper needs to treat a testbed as an Aurora cluster."""

from __future__ import annotations

from typing import Any

import aiomysql
import psycopg
import pytest

from awsasyncwrap import AsyncAwsConnection, HostRole, release_resources
from awsasyncwrap.testbed import Testbed

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


def test_props_per_engine(cluster_testbed: Testbed) -> None:
    tb = cluster_testbed
    props = tb.wrapper_props()
    if tb.engine == "postgres":  # the nodes answer Aurora PostgreSQL's own queries
        assert props == {"cluster_instance_host_pattern": tb.host_pattern}
    else:  # the aurora-mysql dialect reads the emulation
        assert props["cluster_instance_host_pattern"] == tb.host_pattern
        assert props["wrapper_dialect"] == "aurora-mysql"
        assert "FROM aurora_emul.replica_host_status" in props["topology_query"]
        assert props["host_id_query"] == "SELECT @@report_host"
        assert props["is_reader_query"] == "SELECT @@read_only"
    props.clear()
    assert tb.wrapper_props()["cluster_instance_host_pattern"] == tb.host_pattern  # a fresh dict each time


async def test_wrapper_sees_the_cluster_through_its_endpoint(cluster_testbed: Testbed) -> None:
    tb = cluster_testbed
    props: dict[str, Any] = tb.wrapper_props()
    if tb.engine == "postgres":
        conn = AsyncAwsConnection.of(
            await AsyncAwsConnection.connect(
                psycopg.AsyncConnection.connect, tb.dsn("cluster"), plugins="", **props
            )
        )
    else:
        conn = AsyncAwsConnection.of(
            await AsyncAwsConnection.connect(
                aiomysql.connect, **tb.connect_kwargs("cluster"), plugins="", **props
            )
        )
    try:
        service = conn.plugin_service
        assert service.database_dialect.code == ("aurora-pg" if tb.engine == "postgres" else "aurora-mysql")
        hosts = {h.host_id: h for h in service.hosts}
        assert set(hosts) == {inst.id for inst in tb.instances}
        assert {h.host_id for h in hosts.values() if h.role is HostRole.WRITER} == {tb.writer.id}
        for host_id, host in hosts.items():
            assert host_id is not None
            assert (host.host, host.port) == tb.instance(host_id).address  # the instance's proxy
    finally:
        await conn.close()
        await release_resources()
