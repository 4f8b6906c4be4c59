"""A writer crash in the tail: the new writer is found on the monitor's open (spare) connections, as soon
as it is promoted, without waiting for a polling period, and the failing connection's own connection to
it was opened while the monitor was still looking; later connects to a known cluster ask the server
nothing. Both engines. Performance figures live in benchmarks/failover.py and benchmarks/overhead.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio
import pytest

from awsasyncwrap import FailoverSuccessError, TransactionResolutionUnknownError, release_resources
from awsasyncwrap.plugins.aurora_connection_tracker import tracked_connections
from awsasyncwrap.plugins.failover import _race
from awsasyncwrap.testbed import Instance

from ._helpers import Cluster, topology_monitors, until, wrapper_tasks

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(90)]

DEFAULT_SET = "aurora_connection_tracker,failover,host_monitoring"
#: one verification period, if the monitor waited for one, would outlast the failover timeout
HIGH_RATE_MS = 120_000
FAILOVER_TIMEOUT_SEC = 20


async def test_crash_is_recovered_at_the_promotion_not_a_polling_period_later(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    c = cluster
    caplog.set_level(logging.DEBUG, logger="awsasyncwrap.plugins.failover._race")
    target: Instance = c.tb.readers[0]
    conn = await c.connect(
        c.tb.writer,  # its instance endpoint: the monitor probes the instances only
        plugins=DEFAULT_SET,
        cluster_topology_high_refresh_rate_ms=HIGH_RATE_MS,
        failover_timeout_sec=FAILOVER_TIMEOUT_SEC,
    )
    try:
        (monitor,) = topology_monitors()
        target_url = monitor.topology.find(host_id=target.id).url  # type: ignore[union-attr]
        await until(lambda: len(monitor._spares) == 2)  # idle connections to both readers
        spare = monitor._spares[target_url]
        rounds = monitor.verification_rounds
        await c.insert(conn, 1)
        # the crash now, the promotion 0.5 s later: the app's failover (and the monitor's verification)
        # start before the target is writable, and the readers answer "reader" meanwhile
        failover = asyncio.create_task(c.tb.failover(to=target, delay=0.5))
        with anyio.fail_after(FAILOVER_TIMEOUT_SEC + 10):
            # the INSERT in flight at the crash: its outcome is unknown, or it was not sent yet
            with pytest.raises((FailoverSuccessError, TransactionResolutionUnknownError)):
                while True:
                    await c.insert(conn, 2)
                    await asyncio.sleep(0.005)
            report = await failover
        assert report.new_writer == target.id
        assert conn.current_host is not None and conn.current_host.host_id == target.id
        # one verification found the writer on the spare opened before the crash (no connect on the way)
        assert monitor.verification_rounds == rounds + 1
        assert monitor._conn is spare
        # the app's new connection was opened while the monitor was still looking ...
        assert any("uses the connection opened early" in r.getMessage() for r in caplog.records)
        # ... and nothing of the early connects is left: no connect in progress, no slot held (the
        # connection to the reader that was not promoted is disposed of: tests/unit/test_verification.py)
        assert not any("failover-connect" in t.get_name() for t in asyncio.all_tasks() if not t.done())
        assert monitor not in _race._racing
        await c.insert(conn, 3)
    finally:
        await conn.close()
    assert {1, 3} <= await c.ids()
    await release_resources()
    assert wrapper_tasks() == []


async def _statements_seen(c: Cluster, conn: Any) -> Any:
    """What the server saw on ``conn``'s session: PostgreSQL: the session's last statement ('' if none,
    read from another session); MariaDB: the session's statement count (``Questions``, itself included)."""
    raw = getattr(conn, "target_connection", conn)
    if c.pg:
        pid = raw.info.backend_pid
        probe = await c.direct(c.tb.writer)
        try:
            rows = await c.run(probe, "SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,))
        finally:
            await probe.close()
        return rows[0][0]
    rows = await c.run(raw, "SHOW SESSION STATUS LIKE 'Questions'")
    return int(rows[0][1])


async def _raw_connect(c: Cluster, inst: Instance) -> Any:
    if c.pg:
        import psycopg

        return await psycopg.AsyncConnection.connect(c.tb.dsn(inst), autocommit=True)
    import aiomysql

    return await aiomysql.connect(**c.tb.connect_kwargs(inst), autocommit=True)


async def test_later_connects_to_a_known_cluster_send_no_statement(cluster: Cluster) -> None:
    c = cluster
    inst = c.tb.writer  # the instance endpoint, as an app pinned to an instance connects
    raw = await _raw_connect(c, inst)
    try:
        baseline = await _statements_seen(c, raw)  # what the driver's own connect leaves
    finally:
        await raw.close() if c.pg else raw.close()
    first = await c.connect(inst, plugins=DEFAULT_SET)  # detection, the first topology, the monitor
    try:
        (monitor,) = topology_monitors()
        await until(lambda: monitor.topology is not None and monitor.topology.verified_at is not None)
        for _ in range(3):
            later = await c.connect(inst, plugins=DEFAULT_SET)
            try:
                assert await _statements_seen(c, later) == baseline
                assert later.current_host is not None and later.current_host.url in tracked_urls(later)
            finally:
                await later.close()
    finally:
        await first.close()


def tracked_urls(conn: Any) -> set[str]:
    """The instance urls the tracker tracks ``conn``'s driver connection on."""
    raw = conn.target_connection
    topo = topology_monitors()[0].topology
    hosts = topo.hosts if topo is not None else ()
    return {h.url for h in hosts if raw in tracked_connections(h.url)}
