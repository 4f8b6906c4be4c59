"""Global testbed operations besides switchover / failover: instance operations in any region, cross-region
latency, and a switchover that cannot be done without loss."""

from __future__ import annotations

import time

import anyio
import pytest

from awsasyncwrap.testbed import Instance, Testbed, TestbedError
from failover._helpers import Cluster, _close  # tests/ is on sys.path

from .conftest import HOME

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

OTHER = "eu-west-1"


async def test_kill_and_rejoin_in_a_secondary_region(gdb: Testbed) -> None:
    inst = gdb.regions[OTHER][1]
    with anyio.fail_after(60):
        await gdb.kill(inst)
        assert not inst.running
        views = await gdb.topology_views()
        assert all(v is not None and inst.id not in v[0] for v in views.values())
        await gdb.rejoin(inst)
        await gdb.settled()
    assert inst.running and gdb.region_of(inst) == OTHER and gdb.primary_region == HOME


async def test_net_region_adds_latency_to_that_region_only(gdb: Testbed) -> None:
    c = Cluster(gdb)
    gdb.net_region(OTHER, "delay:150")
    assert {gdb.net_mode(i) for i in gdb.regions[OTHER]} == {"delay:150"}
    assert {gdb.net_mode(i) for i in gdb.regions[HOME]} == {"pass"}

    async def round_trip(target: Instance) -> float:
        conn = await c.connect(target, aurora=False, plugins="")
        try:
            started = time.monotonic()
            await c.run(conn, "SELECT 1")
            return time.monotonic() - started
        finally:
            await conn.close()

    with anyio.fail_after(30):
        assert await round_trip(gdb.regions[OTHER][0]) >= 0.15
        assert await round_trip(gdb.regions[HOME][1]) < 0.15
    with pytest.raises(TestbedError, match="bad region"):
        gdb.net_region("mars-north-1", "pass")


async def test_switchover_that_cannot_catch_up_changes_nothing(gdb: Testbed) -> None:
    c = Cluster(gdb)
    await c.create_table()
    writer = gdb.writer
    gdb.catch_up_timeout = 0  # the target gets no time to catch up: a planned switchover must refuse
    with anyio.fail_after(30), pytest.raises(TestbedError, match="did not catch up"):
        await gdb.global_switchover(OTHER)
    assert gdb.writer is writer and writer.running and gdb.primary_region == HOME
    conn = await c.direct()
    try:
        await c.run(conn, f"INSERT INTO {c.table} (id) VALUES (1)")  # still writable
    finally:
        await _close(conn)
    with pytest.raises(TestbedError, match="primary region already"):
        await gdb.global_switchover(HOME)
