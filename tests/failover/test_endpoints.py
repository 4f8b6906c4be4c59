"""Endpoints that lead to the wrong instance: stale DNS, initial connection role, connect-time failover,
and connections left on a demoted writer (aurora_connection_tracker). PostgreSQL testbed with DNS lag."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import psycopg
import pytest
import pytest_asyncio

from awsasyncwrap import AsyncAwsConnection, FailoverSuccessError, release_resources
from awsasyncwrap.plugins.aurora_connection_tracker import tracked_connections
from awsasyncwrap.testbed import Testbed
from polling import until

from ._helpers import Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

DNS_LAG = 60.0  # longer than any test: the endpoints keep their pre-failover targets


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def lagged() -> AsyncIterator[Testbed]:
    """A 2-instance PostgreSQL testbed whose endpoints lag behind failovers."""
    async with Testbed.start("postgres", instances=2, dns_lag=DNS_LAG) as tb:
        yield tb


@pytest_asyncio.fixture(loop_scope="session")
async def swapped(lagged: Testbed) -> AsyncIterator[Testbed]:
    """After a failover and a rejoin: the cluster endpoint leads to the old writer, now a reader,
    and the reader endpoint to the new writer."""
    await lagged.heal()
    report = await lagged.failover()
    await lagged.rejoin(report.old_writer)
    try:
        yield lagged
    finally:
        await release_resources()


async def _connect(tb: Testbed, target: str | None, plugins: str, **props: Any) -> AsyncAwsConnection:
    host = (tb.reader_endpoint if target == "reader" else tb.cluster_endpoint)[0]
    wrapper_props: dict[str, Any] = tb.wrapper_props()
    return AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect,
            tb.dsn(target),
            plugins=plugins,
            autocommit=True,
            **wrapper_props,
            cluster_writer_endpoint=tb.cluster_endpoint[0] if target != "reader" else None,
            cluster_reader_endpoint=host if target == "reader" else None,
            monitor_disposal_time_ms=0,
            **props,
        )
    )


async def _where(conn: AsyncAwsConnection) -> tuple[str, bool]:
    cur = await conn.execute("SELECT aurora_db_instance_identifier(), pg_is_in_recovery()")
    row = await cur.fetchone()
    return str(row[0]), bool(row[1])


async def test_stale_cluster_endpoint_without_plugin_lands_on_reader(swapped: Testbed) -> None:
    conn = await _connect(swapped, None, "")
    try:
        _, is_reader = await _where(conn)
        assert is_reader  # the emulated DNS is stale
    finally:
        await conn.close()


async def test_stale_dns_connects_to_real_writer(swapped: Testbed) -> None:
    conn = await _connect(swapped, None, "stale_dns")
    try:
        assert await _where(conn) == (swapped.writer.id, False)
    finally:
        await conn.close()


async def test_initial_connection_writer_endpoint(swapped: Testbed) -> None:
    conn = await _connect(swapped, None, "initial_connection")
    try:
        assert await _where(conn) == (swapped.writer.id, False)
    finally:
        await conn.close()


async def test_initial_connection_reader_endpoint(swapped: Testbed) -> None:
    conn = await _connect(swapped, "reader", "initial_connection")
    try:
        host_id, is_reader = await _where(conn)
        assert is_reader and host_id != swapped.writer.id
    finally:
        await conn.close()


@pytest.mark.parametrize("target", [None, "reader"])
async def test_initial_connection_goes_straight_to_the_instance_the_topology_names(
    swapped: Testbed, target: str | None
) -> None:
    """With the topology known (another connection's monitor), DNS is not asked at all: the endpoint
    refuses every connection here, yet the connection lands on an instance of the right role."""
    first = await _connect(swapped, None, "failover")  # its monitor knows the topology
    provider = AsyncAwsConnection.of(first).plugin_service.host_list_provider
    await until(lambda: provider.known_topology() is not None, timeout=10.0)  # type: ignore[attr-defined]
    swapped.net_endpoint("reader" if target == "reader" else "cluster", "refuse")
    try:
        conn = await _connect(swapped, target, "initial_connection")
        try:
            host_id, is_reader = await _where(conn)
            assert (host_id == swapped.writer.id) is (target is None)
            assert is_reader is (target == "reader")
        finally:
            await conn.close()
    finally:
        swapped.net_endpoint("reader" if target == "reader" else "cluster", "pass")
        await first.close()


async def test_initial_connection_waits_for_its_own_first_topology(
    swapped: Testbed, caplog: pytest.LogCaptureFixture
) -> None:
    """No monitor yet: with wait_for_initial_topology_ms the connection waits for its monitor's first
    topology and goes straight to a reader, instead of trusting the stale reader endpoint (the writer)."""
    await release_resources()
    with caplog.at_level(logging.INFO, logger="awsasyncwrap.plugins.initial_connection"):
        conn = await _connect(
            swapped,
            "reader",
            "initial_connection",
            wait_for_initial_topology_ms=10_000,
            wrapper_dialect="aurora-pg",
        )
    try:
        host_id, is_reader = await _where(conn)
        assert is_reader and host_id != swapped.writer.id
        assert "reconnecting" not in caplog.text  # not through the endpoint and back
    finally:
        await conn.close()


async def test_connect_fails_over_when_endpoint_leads_to_dead_writer(lagged: Testbed) -> None:
    await lagged.heal()
    first = await _connect(lagged, None, "failover")  # keeps the cluster's topology monitor alive
    try:
        await lagged.failover()  # old writer down; the endpoint still leads to it
        conn = await _connect(lagged, None, "failover")
        try:
            assert await _where(conn) == (lagged.writer.id, False)
        finally:
            await conn.close()
    finally:
        await first.close()
        await release_resources()


async def test_tracker_aborts_connections_left_on_old_writer(pg_cluster: Testbed) -> None:
    """A connection on a writer that stops answering is aborted as soon as the new writer is known,
    so its next call fails over at once instead of hanging."""
    c = Cluster(pg_cluster)
    tb = c.tb
    old = tb.writer
    plugins = "aurora_connection_tracker,failover"
    watcher = await c.connect(plugins=plugins)  # through the cluster endpoint
    stuck = await c.connect(old, plugins=plugins)  # straight to the writer instance
    try:
        assert stuck.target_connection in tracked_connections(old.address[0] + f":{old.address[1]}")
        tb.net(old, "blackhole")
        report = await tb.failover()
        with pytest.raises(FailoverSuccessError):
            await c.run(watcher, "SELECT 1")
        with anyio.fail_after(5):  # without the tracker this call would hang on the blackhole
            with pytest.raises(FailoverSuccessError):
                await c.run(stuck, "SELECT 1")
        assert await c.host_id(stuck) == report.new_writer
    finally:
        await watcher.close()
        await stuck.close()
        await release_resources()
