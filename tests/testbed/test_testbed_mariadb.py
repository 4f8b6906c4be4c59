"""The MariaDB testbed against real servers: emulated Aurora MySQL topology, failover, faults."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiomysql
import anyio
import pytest

from awsasyncwrap.testbed import Instance, Testbed
from awsasyncwrap.testbed._wait import until

pytestmark = pytest.mark.cluster

TOPOLOGY = (
    "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, CPU, "
    "REPLICA_LAG_IN_MILLISECONDS, LAST_UPDATE_TIMESTAMP FROM aurora_emul.replica_host_status "
    "WHERE time_to_sec(timediff(now(), LAST_UPDATE_TIMESTAMP)) <= 300 OR SESSION_ID = 'MASTER_SESSION_ID' "
)
IS_READER = "SELECT @@read_only"


async def connect(tb: Testbed, target: Any = None, **extra: Any) -> Any:
    with anyio.fail_after(10):
        return await aiomysql.connect(
            **tb.connect_kwargs(target, autocommit=True, connect_timeout=3, **extra)
        )


async def fetch(tb: Testbed, target: Any, query: str, args: Any = None) -> list[tuple[Any, ...]]:
    conn = await connect(tb, target)
    try:
        with anyio.fail_after(10):
            cur = await conn.cursor()
            await cur.execute(query, args)
            return list(await cur.fetchall())
    finally:
        conn.close()


async def topology(tb: Testbed, inst: Instance | str) -> tuple[set[str], list[str]]:
    rows = await fetch(tb, inst, TOPOLOGY)
    return {row[0] for row in rows}, [row[0] for row in rows if row[1]]


async def server_id(tb: Testbed, target: Any) -> str:
    return str((await fetch(tb, target, "SELECT @@server_id"))[0][0])


async def assert_topology_everywhere(tb: Testbed) -> None:
    ids = {inst.id for inst in tb.instances if inst.running}
    for inst in tb.instances:
        if not inst.running:
            continue
        servers, writers = await topology(tb, inst)
        assert servers == ids, inst
        assert writers == [tb.writer.id], inst
        assert await server_id(tb, inst) == inst.id
        assert (await fetch(tb, inst, IS_READER))[0][0] == int(inst is not tb.writer)
    rows = await fetch(tb, tb.writer, "SELECT SERVER_ID, HOST, PORT FROM aurora_emul.replica_host_status")
    assert {(row[0], row[1], row[2]) for row in rows} == {
        (i.id, *i.address) for i in tb.instances if i.running
    }


async def test_accounts_and_grants(mariadb_cluster: Testbed) -> None:
    tb = mariadb_cluster
    assert tb.connect_kwargs() == {
        "host": tb.cluster_endpoint[0],
        "port": tb.port,
        "user": "test",
        "password": "test",
        "db": "test",
    }
    grants = " ".join(row[0] for row in await fetch(tb, None, "SHOW GRANTS"))
    assert "ALL PRIVILEGES ON *.*" not in grants
    table = f"t_{uuid.uuid4().hex[:8]}"
    await fetch(tb, None, f"CREATE TABLE {table} (id int primary key)")
    with pytest.raises(aiomysql.OperationalError) as info:  # read_only binds the test user
        await fetch(tb, tb.readers[0], f"INSERT INTO {table} VALUES (1)")
    assert info.value.args[0] == 1290


async def test_topology_on_every_node(mariadb_cluster: Testbed) -> None:
    await assert_topology_everywhere(mariadb_cluster)
    assert await server_id(mariadb_cluster, "cluster") == mariadb_cluster.writer.id
    assert await server_id(mariadb_cluster, "reader") in {r.id for r in mariadb_cluster.readers}


async def test_failover_moves_writer_topology_and_endpoints(mariadb_cluster: Testbed) -> None:
    tb = mariadb_cluster
    old = tb.writer
    before = await connect(tb)
    try:
        report = await tb.failover()
        assert report.old_writer == old.id and report.new_writer == tb.writer.id != old.id
        assert report.total < 2.0, report
        with pytest.raises(aiomysql.OperationalError), anyio.fail_after(5):
            cur = await before.cursor()
            await cur.execute("SELECT 1")
    finally:
        before.close()
    await assert_topology_everywhere(tb)
    assert await server_id(tb, "cluster") == tb.writer.id
    await tb.rejoin(old)
    await assert_topology_everywhere(tb)


async def test_readers_answer_topology_while_writer_is_dead(mariadb_cluster: Testbed) -> None:
    tb = mariadb_cluster
    writer = tb.writer
    await tb.kill(writer)
    for inst in tb.readers:
        servers, writers = await topology(tb, inst)
        assert writers == [writer.id]
        assert {r.id for r in tb.readers} <= servers


async def test_blackhole_hangs_query_until_pass(mariadb_cluster: Testbed) -> None:
    tb = mariadb_cluster
    target = tb.readers[0]
    conn = await connect(tb, target)
    try:
        cur = await conn.cursor()
        tb.net(target, "blackhole")
        query = asyncio.ensure_future(cur.execute("SELECT 42"))
        done, _ = await asyncio.wait({query}, timeout=1.0)
        assert not done, "a blackholed query completed"
        tb.net(target, "pass")
        with anyio.fail_after(5):
            await query
        assert await cur.fetchone() == (42,)
    finally:
        conn.close()


async def test_reset_and_refuse_fail_fast(mariadb_cluster: Testbed) -> None:
    tb = mariadb_cluster
    target = tb.writer
    conn = await connect(tb, target)
    try:
        cur = await conn.cursor()
        query = asyncio.ensure_future(cur.execute("SELECT SLEEP(10)"))

        async def running() -> bool:
            sleeping = "SELECT 1 FROM information_schema.processlist WHERE info = 'SELECT SLEEP(10)'"
            return bool(await fetch(tb, target, sleeping))

        with anyio.fail_after(5):  # wait until the server runs it
            await until(running)
        tb.net(target, "reset")
        # ended by the reset, long before its 10 s sleep would end it (a bound, not a timing)
        with pytest.raises(aiomysql.OperationalError), anyio.fail_after(8):
            await query
    finally:
        conn.close()
    tb.net(target, "refuse")
    with pytest.raises(aiomysql.OperationalError), anyio.fail_after(5):  # refused, not left to time out
        await fetch(tb, target, "SELECT 1")


async def test_failover_rounds_lose_no_committed_rows(mariadb_cluster: Testbed) -> None:
    tb = mariadb_cluster
    table = f"rows_{uuid.uuid4().hex[:8]}"
    await fetch(tb, None, f"CREATE TABLE {table} (round int, n int)")
    expected = 0
    for round_ in range(3):
        conn = await connect(tb)
        try:
            cur = await conn.cursor()
            for n in range(20):
                await cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (round_, n))
        finally:
            conn.close()
        expected += 20
        old = tb.writer
        report = await tb.failover()
        assert report.total < 2.0, report
        assert (await fetch(tb, None, f"SELECT count(*) FROM {table}"))[0][0] == expected
        await tb.rejoin(old)
    await tb.wait_replicated()
    for inst in tb.instances:
        assert (await fetch(tb, inst, f"SELECT count(*) FROM {table}"))[0][0] == expected


async def test_single_server(mariadb_server: Testbed) -> None:
    assert await server_id(mariadb_server, None) == "1"
    assert (await fetch(mariadb_server, None, IS_READER)) == [(0,)]
    servers, writers = await topology(mariadb_server, mariadb_server.writer)
    assert servers == {"1"} and writers == ["1"]


async def stop_replication(inst: Instance) -> None:
    root = await aiomysql.connect(unix_socket=str(inst.data_dir.parent / "mysqld.sock"), user="root")
    try:
        cur = await root.cursor()
        await cur.execute("STOP SLAVE")  # synchronous: nothing more arrives once it returns
    finally:
        root.close()


async def test_failover_reconnects_a_target_that_stopped_replicating(mariadb_cluster: Testbed) -> None:
    """The target missed a commit the old writer acknowledged: failover gets it there before the kill."""
    tb = mariadb_cluster
    old, (target, other) = tb.writer, tb.readers
    table = f"cut_{uuid.uuid4().hex[:8]}"
    await fetch(tb, None, f"CREATE TABLE {table} (n int)")
    await tb.wait_replicated()
    await stop_replication(target)
    await fetch(tb, None, f"INSERT INTO {table} VALUES (1)")  # acknowledged; `target` lacks it
    report = await tb.failover(to=target)
    assert report.new_writer == target.id and report.total < 2.0, report
    await tb.rejoin(old)
    status = await tb.status()
    assert status.healthy, status
    await tb.wait_replicated()
    for inst in (old, target, other):
        assert (await fetch(tb, inst, f"SELECT count(*) FROM {table}")) == [(1,)]


async def test_diverged_replicas_are_rebuilt(mariadb_cluster: Testbed) -> None:
    """A commit only the old writer and one reader got (no catch-up): both must be rebuilt."""
    tb = mariadb_cluster
    old, (target, other) = tb.writer, tb.readers
    table = f"div_{uuid.uuid4().hex[:8]}"
    await fetch(tb, None, f"CREATE TABLE {table} (n int)")
    await tb.wait_replicated()
    await stop_replication(target)
    await fetch(tb, None, f"INSERT INTO {table} VALUES (1)")  # reaches `other`, never `target`
    tb.catch_up_timeout = 0  # reset by the fixture
    report = await tb.failover(to=target)
    assert report.new_writer == target.id
    await tb.rejoin(old)
    status = await tb.status()
    assert status.healthy, status
    await tb.wait_replicated()
    for inst in (old, target, other):
        assert (await fetch(tb, inst, f"SELECT count(*) FROM {table}")) == [(0,)]
