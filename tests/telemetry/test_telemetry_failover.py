"""The telemetry plugin through a real writer failover on the emulated Aurora clusters."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import wrapped
from awsasyncwrap import AsyncAwsConnection, FailoverSuccessError, release_resources
from awsasyncwrap.testbed import Testbed

from .conftest import Otel

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(60)]


async def connect(tb: Testbed, otel: Otel) -> AsyncAwsConnection:
    """A wrapped connection to the writer instance with telemetry (execute spans on) and failover."""
    props = otel.props(
        plugins="telemetry,failover",
        autocommit=True,
        monitor_disposal_time_ms=0,
        failover_timeout_sec=20,
        telemetry_execute_spans=True,
        telemetry_execute_metrics=True,
    )
    return await wrapped.connect(tb, tb.writer, **props)


async def select_1(conn: AsyncAwsConnection) -> Any:
    async with conn.cursor() as cur:
        await cur.execute("SELECT 1")
        return await cur.fetchone()


async def test_failover_is_recorded_with_its_hosts(cluster_testbed: Testbed, otel: Otel) -> None:
    tb = cluster_testbed
    system = "postgresql" if tb.engine == "postgres" else "mariadb"
    conn = await connect(tb, otel)
    try:
        assert tuple(await select_1(conn)) == (1,)
        old = tb.writer
        report = await tb.failover()
        with pytest.raises(FailoverSuccessError):
            await select_1(conn)
        assert tuple(await select_1(conn)) == (1,)
    finally:
        await conn.close()
        await release_resources()
    new = tb.instance(report.new_writer)
    old_url, new_url = "{}:{}".format(*old.address), "{}:{}".format(*new.address)

    (failover,) = otel.finished("awsasyncwrap.failover")
    attrs = dict(failover.attributes or {})
    assert attrs["awsasyncwrap.failover.outcome"] == "success"
    assert attrs["awsasyncwrap.failover.from"] == old_url
    assert attrs["awsasyncwrap.failover.to"] == new_url
    assert attrs["server.address"] == new.address[0] and attrs["db.system.name"] == system
    assert failover.status.status_code is StatusCode.UNSET
    (count,) = otel.points("awsasyncwrap.failover.count")
    assert count.value == 1 and count.attributes["awsasyncwrap.failover.outcome"] == "success"
    (duration,) = otel.points("awsasyncwrap.failover.duration")
    assert duration.count == 1 and 0 < duration.sum < 20

    # the statement that met the failover: one CLIENT span with the error, on the old writer
    client = [s for s in otel.finished() if s.kind is SpanKind.CLIENT]
    assert [s.status.status_code for s in client] == [StatusCode.UNSET, StatusCode.ERROR, StatusCode.UNSET]
    assert [(s.attributes or {})["server.address"] for s in client] == [
        old.address[0],
        old.address[0],
        new.address[0],
    ]

    # the new driver connection: a connect span and one connection switch to the writer
    connects = otel.finished("awsasyncwrap.connect")
    # (the failover also connects early to the other live instances and keeps only the new writer's)
    assert new.address[0] in [(s.attributes or {})["server.address"] for s in connects]
    (switches,) = otel.points("awsasyncwrap.connection.switch.count")
    assert switches.value == 1 and switches.attributes["awsasyncwrap.switch.to_role"] == "writer"
    # the topology change the failover applied: one instance became the writer, the old one not
    changes = {
        p.attributes["awsasyncwrap.topology.change"]: p.value
        for p in otel.points("awsasyncwrap.topology.change.count")
    }
    assert changes.get("converted_to_writer", 0) >= 1, changes
