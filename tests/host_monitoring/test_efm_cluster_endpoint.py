"""A connection made through the cluster endpoint is monitored as the writer instance behind it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

import awsasyncwrap
from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.testbed import Testbed

from ._helpers import DETECTION, EFM, SLACK, monitor_of, pg_running, pg_terminate, until

pytestmark = [pytest.mark.timeout(60), pytest.mark.cluster]


@pytest.fixture
async def tb(pg_cluster: Testbed) -> AsyncIterator[Testbed]:
    yield pg_cluster
    pg_cluster.net("all", "pass")
    await pg_terminate(pg_cluster, "pg_sleep(")
    await awsasyncwrap.release_resources()


async def test_cluster_endpoint_connection_is_monitored_as_its_instance(tb: Testbed) -> None:
    writer = tb.writer
    wrapper_props: dict[str, Any] = tb.wrapper_props()
    conn = AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(
            psycopg.AsyncConnection.connect,
            tb.dsn("cluster"),
            plugins="host_monitoring",
            **wrapper_props,
            autocommit=True,
            **EFM,
        )
    )
    try:
        assert conn.current_host is not None and conn.current_host.host == tb.cluster_endpoint[0]
        cur = conn.cursor()
        await cur.execute("SELECT 1")
        monitor = monitor_of(conn)
        assert monitor.host.host == writer.address[0]  # identified: the instance, not the endpoint
        start = time.monotonic()
        call = asyncio.create_task(cur.execute("SELECT pg_sleep(600)"))
        await until(lambda: pg_running(tb, writer, "pg_sleep(600)"))
        tb.net("cluster", "blackhole")  # the writer stops answering on every path to it
        tb.net(writer, "blackhole")
        with pytest.raises(psycopg.OperationalError):
            await asyncio.wait_for(call, DETECTION + SLACK + 10)
        assert time.monotonic() - start <= DETECTION + SLACK
        assert monitor.declared_dead == 1
    finally:
        tb.net("all", "pass")
        await conn.close()
