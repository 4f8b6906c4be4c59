"""The Global Database testbed and the global dialects on real servers: regions, the global status
functions on every node, the topology through the global endpoint, switchover and failover."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import pytest

from awsasyncwrap import ConfigurationError, FailoverSuccessError, HostRole
from awsasyncwrap.testbed import Testbed
from failover._helpers import Cluster, _close, until  # tests/ is on sys.path

from .conftest import HOME

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

OTHER = "eu-west-1"


def test_regions_and_props(gdb: Testbed) -> None:
    tb = gdb
    assert list(tb.regions) == [HOME, OTHER]
    assert [i.id for i in tb.regions[HOME]] == ["1", "2"] and [i.id for i in tb.regions[OTHER]] == ["3", "4"]
    assert tb.primary_region == HOME and tb.region_of(tb.writer) == HOME and tb.region_of("3") == OTHER
    subnets = {tb.region_of(i): i.address[0].rsplit(".", 1)[0] for i in tb.instances}
    assert subnets[HOME] != subnets[OTHER]  # each region on its own loopback subnet
    assert tb.global_host_patterns == ",".join(f"{r}:{s}.?:{tb.port}" for r, s in subnets.items())
    host, port = tb.global_endpoint
    assert ".global-" in host and host.endswith(".global.rds.amazonaws.com") and port == tb.port
    props = tb.wrapper_props()
    assert props["global_cluster_instance_host_patterns"] == tb.global_host_patterns
    assert "cluster_instance_host_pattern" not in props
    if tb.engine == "mariadb":
        assert props["wrapper_dialect"] == "global-aurora-mysql"


async def test_global_status_on_every_node(gdb: Testbed) -> None:
    c = Cluster(gdb)
    if c.pg:
        regions_sql = "SELECT count(1) FROM pg_catalog.aurora_global_db_status()"
        rows_sql = (
            "SELECT server_id, session_id = 'MASTER_SESSION_ID', aws_region "
            "FROM pg_catalog.aurora_global_db_instance_status()"
        )
    else:
        regions_sql = "SELECT count(1) FROM aurora_emul.aurora_global_db_status"
        rows_sql = (
            "SELECT SERVER_ID, SESSION_ID = 'MASTER_SESSION_ID', AWS_REGION "
            "FROM aurora_emul.aurora_global_db_instance_status"
        )
    expected = {(i.id, i is gdb.writer, gdb.region_of(i)) for i in gdb.instances}
    with anyio.fail_after(30):
        for inst in gdb.instances:
            conn = await c.direct(inst)
            try:
                assert (await c.run(conn, regions_sql))[0][0] == 2
                rows = {(str(r[0]), bool(r[1]), str(r[2])) for r in await c.run(conn, rows_sql)}
                assert rows == expected, inst
            finally:
                await _close(conn)


async def _connect(c: Cluster, target: Any, **props: Any) -> Any:
    with anyio.fail_after(20):
        return await c.connect(target, **props)


async def test_topology_through_the_global_endpoint(gdb: Testbed) -> None:
    c = Cluster(gdb)
    conn = await _connect(c, gdb.global_endpoint, plugins="")
    try:
        service = conn.plugin_service
        expected = "global-aurora-pg" if c.pg else "global-aurora-mysql"
        assert service.database_dialect.code == expected
        hosts = {h.host_id: h for h in service.hosts}
        assert set(hosts) == {i.id for i in gdb.instances}
        for host_id, host in hosts.items():
            inst = gdb.instance(host_id)
            assert host.region == gdb.region_of(inst)
            assert (host.host, host.port) == inst.address  # reachable: the instance's proxy in its region
            assert (host.role is HostRole.WRITER) == (inst is gdb.writer)
    finally:
        await conn.close()


async def test_dialect_detected_through_a_secondary_region_instance(gdb: Testbed) -> None:
    if gdb.engine != "postgres":
        pytest.skip("MariaDB cannot add Aurora's information_schema tables: the testbed forces the dialect")
    c = Cluster(gdb)
    reader = gdb.regions[OTHER][0]
    props = {"global_cluster_instance_host_patterns": gdb.global_host_patterns}
    with anyio.fail_after(20):
        conn = await c.connect(reader, aurora=False, plugins="", **props)
    try:
        assert conn.plugin_service.database_dialect.code == "global-aurora-pg"
        assert {h.host_id for h in conn.plugin_service.hosts} == {i.id for i in gdb.instances}
    finally:
        await conn.close()


async def test_failover_plugin_through_the_global_endpoint(gdb: Testbed) -> None:
    c = Cluster(gdb)
    await c.create_table()
    conn = await _connect(c, "global")  # tb.dsn("global") / connect_kwargs("global"): the global endpoint
    try:
        await c.insert(conn, 1)
        report = await gdb.failover()
        assert gdb.region_of(report.new_writer) == HOME  # a regional failover stays home
        with anyio.fail_after(40), pytest.raises(FailoverSuccessError):
            await c.insert(conn, 2)
        assert conn.current_host is not None and conn.current_host.host_id == report.new_writer
        assert conn.current_host.region == HOME
        await c.insert(conn, 2)
    finally:
        await conn.close()
    assert await c.ids() == {1, 2}


async def test_global_switchover_loses_no_acknowledged_row(gdb: Testbed) -> None:
    c = Cluster(gdb)
    await c.create_table()
    acknowledged: set[int] = set()
    stop = anyio.Event()
    wanted = [20]  # ``reached`` is set once this many rows are acknowledged
    reached = anyio.Event()

    async def writer() -> None:
        n = 0
        conn: Any = None
        while not stop.is_set():
            n += 1
            try:
                if conn is None:
                    with anyio.fail_after(5):
                        conn = await c.connect(gdb.global_endpoint, plugins="")
                with anyio.fail_after(5):
                    await c.insert(conn, n)
                acknowledged.add(n)
                if len(acknowledged) >= wanted[0]:
                    reached.set()
            except Exception:
                if conn is not None:
                    await _quiet_close(conn)
                conn = None
                await anyio.sleep(0.01)  # pacing between reconnects, not synchronisation
        if conn is not None:
            await _quiet_close(conn)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            await reached.wait()
            report = await gdb.global_switchover(OTHER)
            wanted[0], reached = len(acknowledged) + 20, anyio.Event()
            await reached.wait()  # writes resume through the global endpoint
            stop.set()
    assert gdb.primary_region == OTHER and gdb.region_of(report.new_writer) == OTHER
    assert gdb.instance(report.old_writer).running  # the old writer rejoined as a reader
    assert acknowledged <= await c.ids()


async def test_global_failover_cuts_the_old_region_off(gdb: Testbed) -> None:
    report = await gdb.global_failover(OTHER)
    assert gdb.primary_region == OTHER and gdb.region_of(report.new_writer) == OTHER
    assert all(gdb.net_mode(i) == "blackhole" for i in gdb.regions[HOME])
    assert all(gdb.net_mode(i) == "pass" for i in gdb.regions[OTHER])
    status = await gdb.status()
    assert {i.id: i.region for i in status.instances} == {i.id: gdb.region_of(i) for i in gdb.instances}
    assert status.endpoint_modes["global"] == "pass" and not status.healthy  # the old region is cut off
    assert gdb.net_mode("global") == "pass"
    c = Cluster(gdb)
    with anyio.fail_after(20):
        conn = await c.connect(gdb.global_endpoint, plugins="")
        try:
            assert await c.host_id(conn) == report.new_writer  # the global endpoint follows the writer
        finally:
            await conn.close()


async def _quiet_close(conn: Any) -> None:
    with anyio.move_on_after(2, shield=True):
        with contextlib.suppress(Exception):
            await conn.close()


async def test_bad_patterns_are_refused_at_connect(gdb: Testbed) -> None:
    c = Cluster(gdb)
    bad = "us-east-1=127.0.0.?"
    with anyio.fail_after(20), pytest.raises(ConfigurationError) as info:
        await c.connect(gdb.global_endpoint, global_cluster_instance_host_patterns=bad)
    assert repr(bad) in str(info.value) and "<region>:<pattern>[:port]" in str(info.value)


async def test_global_endpoint_without_patterns_is_refused_and_leaves_nothing_open(gdb: Testbed) -> None:
    c = Cluster(gdb)
    props = {k: v for k, v in gdb.wrapper_props().items() if k != "global_cluster_instance_host_patterns"}
    with (
        anyio.fail_after(20),
        pytest.raises(ConfigurationError, match="global_cluster_instance_host_patterns="),
    ):
        await c.connect(gdb.global_endpoint, aurora=False, **props)
    proxy = gdb._proxies["global"]
    await until(lambda: proxy.connections == 0, 10)  # the connection of the dialect check is closed
