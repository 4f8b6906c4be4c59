"""The PostgreSQL testbed against real servers: Aurora queries, failover, faults, endpoints."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import anyio
import psycopg
import pytest

from awsasyncwrap.testbed import Instance, Testbed
from awsasyncwrap.testbed._wait import until

pytestmark = pytest.mark.cluster

TOPOLOGY = (
    "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, CPU, "
    "COALESCE(REPLICA_LAG_IN_MSEC, 0), LAST_UPDATE_TIMESTAMP FROM aurora_replica_status() "
    "WHERE EXTRACT(EPOCH FROM(NOW() - LAST_UPDATE_TIMESTAMP)) <= 300 OR SESSION_ID = 'MASTER_SESSION_ID' "
    "OR LAST_UPDATE_TIMESTAMP IS NULL"
)
HOST_ID = "SELECT aurora_db_instance_identifier()"
IS_READER = "SELECT pg_is_in_recovery()"
DIALECT = (
    "SELECT (setting LIKE '%aurora_stat_utils%') AS aurora_stat_utils FROM pg_settings "
    "WHERE name='rds.extensions'"
)


async def fetch(dsn: str, query: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
    with anyio.fail_after(10):
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall() if cur.description else []


async def topology(tb: Testbed, inst: Instance) -> tuple[set[str], list[str]]:
    """(server ids, writer ids) as the wrapper's topology query sees them on ``inst``."""
    rows = await fetch(tb.dsn(inst), TOPOLOGY)
    return {row[0] for row in rows}, [row[0] for row in rows if row[1]]


async def assert_topology_everywhere(tb: Testbed) -> None:
    ids = {inst.id for inst in tb.instances if inst.running}
    for inst in tb.instances:
        if not inst.running:
            continue
        servers, writers = await topology(tb, inst)
        assert servers == ids, inst
        assert writers == [tb.writer.id], inst
        assert (await fetch(tb.dsn(inst), HOST_ID))[0][0] == inst.id
        assert (await fetch(tb.dsn(inst), IS_READER))[0][0] is (inst is not tb.writer)
        assert (await fetch(tb.dsn(inst), DIALECT)) == [(True,)]


async def test_addressing_contract(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    assert [inst.id for inst in tb.instances] == ["1", "2", "3"]
    for inst in tb.instances:
        assert inst.address == (tb.host_pattern.replace("?", inst.id), tb.port)
    k = tb.host_pattern.split(".")[2]
    assert tb.cluster_endpoint == (f"127.0.{k}.200", tb.port)
    assert tb.reader_endpoint == (f"127.0.{k}.201", tb.port)
    assert tb.dsn(tb.instances[1]) == f"host=127.0.{k}.2 port={tb.port} user=postgres dbname=postgres"
    assert tb.dsn("reader", connect_timeout=2).endswith("connect_timeout=2")
    assert tb.connect_kwargs(2, direct=True)["port"] == tb.instances[1].node_port


async def test_topology_on_every_node(pg_cluster: Testbed) -> None:
    await assert_topology_everywhere(pg_cluster)
    assert (await fetch(pg_cluster.dsn(), HOST_ID))[0][0] == pg_cluster.writer.id
    assert (await fetch(pg_cluster.dsn("reader"), HOST_ID))[0][0] in {r.id for r in pg_cluster.readers}


async def test_failover_moves_writer_topology_and_endpoints(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    old = tb.writer
    async with await psycopg.AsyncConnection.connect(tb.dsn(), autocommit=True) as before:
        report = await tb.failover()
        assert report.old_writer == old.id and report.new_writer == tb.writer.id != old.id
        assert report.total < 2.0, report
        with pytest.raises(psycopg.OperationalError), anyio.fail_after(5):
            await before.execute("SELECT 1")  # it kept its upstream: the dead writer
    assert not old.running and old.role == "reader"
    await assert_topology_everywhere(tb)
    assert (await fetch(tb.dsn(), HOST_ID))[0][0] == tb.writer.id
    with pytest.raises(psycopg.OperationalError), anyio.fail_after(5):
        await fetch(tb.dsn(old), "SELECT 1")
    await tb.rejoin(old)
    assert old.running
    await assert_topology_everywhere(tb)


async def test_failover_to_given_instance_with_delay(pg_cluster: Testbed) -> None:
    target = pg_cluster.readers[-1]
    report = await pg_cluster.failover(to=target.id, delay=0.3)
    assert report.new_writer == target.id and pg_cluster.writer is target
    assert report.total >= 0.3


async def test_readers_answer_topology_while_writer_is_dead(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    writer = tb.writer
    await tb.kill(writer)
    for inst in tb.readers:
        with anyio.fail_after(5):
            servers, writers = await topology(tb, inst)
        assert writers == [writer.id]
        assert {r.id for r in tb.readers} <= servers


async def test_endpoints_follow_failover_after_dns_lag(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    tb.dns_lag = 3.0  # far more than the rest of failover() and status() take, even on a busy machine
    try:
        old = tb.writer
        await tb.failover()
        status = await tb.status()
        assert status.endpoint_writer == old.id  # stale "DNS"

        async def moved() -> bool:
            return (await tb.status()).endpoint_writer == tb.writer.id

        with anyio.fail_after(10):
            await until(moved, interval=0.1)
        assert (await fetch(tb.dsn(), HOST_ID))[0][0] == tb.writer.id
    finally:
        tb.dns_lag = 0.0


async def test_reader_endpoint_round_robin(pg_cluster: Testbed) -> None:
    seen = {(await fetch(pg_cluster.dsn("reader"), HOST_ID))[0][0] for _ in range(4)}
    assert seen == {r.id for r in pg_cluster.readers}


async def test_blackhole_holds_traffic_until_pass(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    target = tb.readers[0]
    async with await psycopg.AsyncConnection.connect(tb.dsn(target), autocommit=True) as conn:
        tb.net(target, "blackhole")
        query = asyncio.ensure_future(conn.execute("SELECT 42"))
        done, _ = await asyncio.wait({query}, timeout=1.0)
        assert not done, "a blackholed query completed"
        tb.net(target, "pass")
        with anyio.fail_after(5):
            cur = await query
        assert await cur.fetchone() == (42,)


async def test_blackhole_stalls_new_connections(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    tb.net(tb.writer, "blackhole")
    connect = asyncio.ensure_future(psycopg.AsyncConnection.connect(tb.dsn(tb.writer), autocommit=True))
    done, _ = await asyncio.wait({connect}, timeout=1.0)
    assert not done, "connected through a blackhole"
    tb.net(tb.writer, "pass")
    with anyio.fail_after(5):
        conn = await connect
    await conn.close()


async def test_reset_breaks_inflight_query_fast(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    target = tb.writer
    tag = f"tb-{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(
        tb.dsn(target, application_name=tag), autocommit=True
    ) as conn:
        query = asyncio.ensure_future(conn.execute("SELECT pg_sleep(10)"))

        async def running() -> bool:
            active = "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND state = 'active'"
            return bool(await fetch(tb.dsn(target, direct=True), active, (tag,)))

        with anyio.fail_after(5):  # wait until the server runs it
            await until(running)
        tb.net(target, "reset")
        # ended by the reset, long before its 10 s sleep would end it (a bound, not a timing)
        with pytest.raises(psycopg.OperationalError), anyio.fail_after(8):
            await query
    assert tb.net_mode(target) == "pass"
    assert (await fetch(tb.dsn(target), "SELECT 1")) == [(1,)]


async def test_refuse_fails_new_connections_only(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    target = tb.readers[0]
    async with await psycopg.AsyncConnection.connect(tb.dsn(target), autocommit=True) as conn:
        tb.net(target, "refuse")
        with pytest.raises(psycopg.OperationalError), anyio.fail_after(5):  # refused, not left to time out
            await fetch(tb.dsn(target), "SELECT 1")
        cur = await conn.execute("SELECT 7")  # existing connection untouched
        assert await cur.fetchone() == (7,)


async def test_delay_slows_round_trips(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    async with await psycopg.AsyncConnection.connect(tb.dsn("reader"), autocommit=True) as conn:
        tb.net_endpoint("reader", "delay:150")
        started = time.perf_counter()
        await conn.execute("SELECT 1")
        assert time.perf_counter() - started >= 0.3  # both directions


async def test_failover_rounds_lose_no_committed_rows(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    table = f"rows_{uuid.uuid4().hex[:8]}"
    await fetch(tb.dsn(), f"CREATE TABLE {table} (round int, n int)")
    expected = 0
    for round_ in range(3):
        async with await psycopg.AsyncConnection.connect(tb.dsn(), autocommit=True) as conn:
            for n in range(20):
                await conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (round_, n))
        expected += 20
        old = tb.writer
        report = await tb.failover()
        assert report.total < 2.0, report
        assert (await fetch(tb.dsn(), f"SELECT count(*) FROM {table}"))[0][0] == expected
        await tb.rejoin(old)
    await tb.wait_replicated()
    for inst in tb.instances:
        assert (await fetch(tb.dsn(inst), f"SELECT count(*) FROM {table}"))[0][0] == expected


async def test_heal_restores_a_broken_cluster(pg_cluster: Testbed) -> None:
    tb = pg_cluster
    await tb.kill(tb.readers[0])
    tb.net(tb.writer, "blackhole")
    tb.net_endpoint("cluster", "refuse")
    assert not (await tb.status()).healthy
    await tb.heal()
    assert (await tb.status()).healthy
    await assert_topology_everywhere(tb)


async def test_single_server(pg_server: Testbed) -> None:
    assert [inst.id for inst in pg_server.instances] == ["1"]
    assert (await fetch(pg_server.dsn(), HOST_ID)) == [("1",)]
    assert (await fetch(pg_server.dsn(), IS_READER)) == [(False,)]
    servers, writers = await topology(pg_server, pg_server.writer)
    assert servers == {"1"} and writers == ["1"]


async def stop_replication(tb: Testbed, inst: Instance) -> None:
    """Cut ``inst`` off its upstream; return once its WAL receiver is gone.

    ``pg_reload_conf()`` only signals: the receiver stops a moment later and would still get what the
    writer commits meanwhile.
    """
    await fetch(tb.dsn(inst, direct=True), "ALTER SYSTEM SET primary_conninfo = ''")
    await fetch(tb.dsn(inst, direct=True), "SELECT pg_reload_conf()")

    async def receiver_gone() -> bool:
        return (await fetch(tb.dsn(inst, direct=True), "SELECT count(*) FROM pg_stat_wal_receiver")) == [(0,)]

    with anyio.fail_after(10):
        await until(receiver_gone)


async def test_failover_reconnects_a_target_that_stopped_replicating(pg_cluster: Testbed) -> None:
    """The target missed a commit the old writer acknowledged: failover gets it there before the kill."""
    tb = pg_cluster
    old, (target, other) = tb.writer, tb.readers
    table = f"cut_{uuid.uuid4().hex[:8]}"
    await fetch(tb.dsn(), f"CREATE TABLE {table} (n int)")
    await tb.wait_replicated()
    await stop_replication(tb, target)
    await fetch(tb.dsn(), f"INSERT INTO {table} VALUES (1)")  # acknowledged; `target` lacks it
    report = await tb.failover(to=target)
    assert report.new_writer == target.id and report.total < 2.0, report
    await tb.rejoin(old)
    status = await tb.status()
    assert status.healthy, status
    await tb.wait_replicated()
    for inst in (old, target, other):
        assert (await fetch(tb.dsn(inst), f"SELECT count(*) FROM {table}")) == [(1,)]


async def test_diverged_replicas_are_rewound(pg_cluster: Testbed) -> None:
    """A commit only the old writer and one reader got (no catch-up): that reader cannot follow."""
    tb = pg_cluster
    old, (target, other) = tb.writer, tb.readers
    table = f"div_{uuid.uuid4().hex[:8]}"
    await fetch(tb.dsn(), f"CREATE TABLE {table} (n int)")
    await tb.wait_replicated()
    await stop_replication(tb, target)
    await fetch(tb.dsn(), f"INSERT INTO {table} VALUES (1)")  # reaches `other`, never `target`
    tb.catch_up_timeout = 0  # reset by the fixture
    report = await tb.failover(to=target)
    assert report.new_writer == target.id
    await tb.rejoin(old)
    status = await tb.status()
    assert status.healthy, status
    await tb.wait_replicated()
    for inst in (old, target, other):
        assert (await fetch(tb.dsn(inst), f"SELECT count(*) FROM {table}")) == [(0,)]
