"""Cluster operations return only once every running instance answers the same emulated topology."""

from __future__ import annotations

import asyncio
import dataclasses

import anyio
import pytest

from awsasyncwrap.testbed import Testbed, TestbedError

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]


def expected(tb: Testbed) -> tuple[frozenset[str], tuple[str, ...]]:
    return frozenset(i.id for i in tb.instances if i.running), (tb.writer.id,)


async def assert_agreed_now(tb: Testbed, step: str) -> None:
    views = await tb.topology_views()
    want = expected(tb)
    assert views and all(v == want for v in views.values()), (step, want, views)


async def test_every_operation_returns_with_the_topology_agreed(cluster_testbed: Testbed) -> None:
    tb = cluster_testbed
    with anyio.fail_after(200):
        for _ in range(2):
            reader = tb.readers[0]
            await tb.kill(reader)
            await assert_agreed_now(tb, f"kill reader {reader.id}")
            await tb.start_instance(reader)
            await assert_agreed_now(tb, f"start reader {reader.id}")
            old = tb.writer
            await tb.failover()
            await assert_agreed_now(tb, f"failover {old.id} -> {tb.writer.id}")
            await tb.rejoin(old)
            await assert_agreed_now(tb, f"rejoin {old.id}")
            await tb.kill(tb.writer)
            await tb.heal()
            await assert_agreed_now(tb, "kill writer + heal")
        await tb.settled()
        await assert_agreed_now(tb, "settled")


async def test_readers_agree_while_the_writer_is_dead(cluster_testbed: Testbed) -> None:
    tb = cluster_testbed
    writer = tb.writer
    with anyio.fail_after(60):
        await tb.kill(writer)
        views = await tb.topology_views()
        assert set(views) == {r.id for r in tb.readers}
        assert len(set(views.values())) == 1, views
        view = next(iter(views.values()))
        assert view is not None and view[1] == (writer.id,)  # readers still name the dead writer


async def test_kill_waits_until_a_lagging_reader_applied_the_topology(mariadb_cluster: Testbed) -> None:
    """The race behind the flaky MariaDB failover test: a reader that received the new topology but has not
    applied it yet must hold the operation back."""
    tb = mariadb_cluster
    slow, victim = tb.readers
    engine = tb._engine
    await engine._query(slow, "STOP SLAVE SQL_THREAD")  # type: ignore[attr-defined]
    killing = asyncio.ensure_future(tb.kill(victim))
    try:
        done, _ = await asyncio.wait({killing}, timeout=1.0)
        assert not done, "kill() returned while a reader still showed the old topology"
    finally:
        await engine._query(slow, "START SLAVE SQL_THREAD")  # type: ignore[attr-defined]
        with anyio.fail_after(60):
            await killing
    await assert_agreed_now(tb, f"kill reader {victim.id}")


async def test_a_topology_that_does_not_arrive_is_reported_with_each_instance_s_replication(
    mariadb_cluster: Testbed,
) -> None:
    """When the instances do not agree in time, the error says why: here a reader's applier is stopped."""
    tb = mariadb_cluster
    slow, victim = tb.readers
    engine = tb._engine
    options = engine.options
    await engine._query(slow, "STOP SLAVE SQL_THREAD")  # type: ignore[attr-defined]
    engine.options = dataclasses.replace(options, timeout=2.0)
    try:
        with anyio.fail_after(60), pytest.raises(TestbedError) as caught:
            await tb.kill(victim)
    finally:
        engine.options = options
        await engine._query(slow, "START SLAVE SQL_THREAD")  # type: ignore[attr-defined]
    message = str(caught.value)
    assert "instances disagree on the topology after 2 s" in message, message
    assert f"'{slow.id}': 'read-only, io=Yes sql=No" in message, message
    assert f"'{tb.writer.id}': 'writable" in message, message
    with anyio.fail_after(60):
        await tb.settled()
    await assert_agreed_now(tb, "settled after the applier restarted")
