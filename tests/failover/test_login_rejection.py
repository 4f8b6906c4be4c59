"""A login the server rejects reaches the app at once, with the driver's error, even while another
connection to the cluster is open (its topology monitor must not turn the rejection into a failover)."""

from __future__ import annotations

import time
from typing import Any

import aiomysql
import anyio
import psycopg
import pytest

from awsasyncwrap import AsyncAwsConnection, AwsWrapperError, release_resources
from awsasyncwrap.testbed import Testbed
from wrapped import connect

from ._helpers import topology_monitors, until

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]

PG_REJECTIONS = {
    "no such role": {"user": "no_such_role"},
    "no such database": {"dbname": "no_such_db"},
    "bad startup option": {"options": "-c no_such_setting_xyz=1"},
    "bad startup value": {"options": "-c statement_timeout=soon"},
}
MYSQL_REJECTIONS = {
    "no such user": {"user": "no_such_user"},
    "bad password": {"password": "wrong"},
    "no such database": {"db": "no_such_db"},
}


@pytest.mark.parametrize("case", list(PG_REJECTIONS))
async def test_pg_login_rejection_is_immediate_with_another_connection_open(
    pg_cluster: Testbed, case: str
) -> None:
    await check_immediate(pg_cluster, PG_REJECTIONS[case])


@pytest.mark.parametrize("case", list(MYSQL_REJECTIONS))
async def test_mysql_login_rejection_is_immediate_with_another_connection_open(
    mariadb_cluster: Testbed, case: str
) -> None:
    await check_immediate(mariadb_cluster, MYSQL_REJECTIONS[case])


async def check_immediate(tb: Testbed, bad: dict[str, Any]) -> None:
    driver_error = psycopg.OperationalError if tb.engine == "postgres" else aiomysql.OperationalError
    props: dict[str, Any] = {"autocommit": True, "monitor_disposal_time_ms": 0, "failover_timeout_sec": 30}
    other: AsyncAwsConnection = await connect(tb, **props)  # its cluster monitor knows the topology
    try:
        await until(lambda: any(m.topology is not None for m in topology_monitors()), timeout=20)
        started = time.monotonic()
        with pytest.raises(Exception) as info, anyio.fail_after(25):
            await connect(tb, **props, **bad)
        elapsed = time.monotonic() - started
        assert type(info.value) is driver_error or (
            isinstance(info.value, driver_error) and not isinstance(info.value, AwsWrapperError)
        ), repr(info.value)
        assert elapsed < 3.0, f"login rejection took {elapsed:.1f} s"
    finally:
        await other.close()
        await release_resources()


async def test_a_failover_that_cannot_use_the_writer_retries_with_a_pause(
    pg_cluster: Testbed, caplog: pytest.LogCaptureFixture
) -> None:
    """A rejection that is not a login failure ("too many connections for role", SQLSTATE-less like every
    PostgreSQL connect error) fails over to the same writer again and again until failover_timeout_sec:
    never in a busy loop."""
    tb = pg_cluster
    admin = await psycopg.AsyncConnection.connect(tb.dsn(tb.writer, direct=True), autocommit=True)
    try:
        await drop_role(admin)
        await admin.execute("CREATE ROLE limited_role LOGIN CONNECTION LIMIT 0")
        await admin.execute(f"GRANT CONNECT ON DATABASE {tb.database} TO limited_role")
        props: dict[str, Any] = {"autocommit": True, "monitor_disposal_time_ms": 0}
        other = await connect(tb, **props)
        try:
            await until(lambda: any(m.topology is not None for m in topology_monitors()), timeout=20)
            caplog.set_level("DEBUG", logger="awsasyncwrap.plugins.failover._search")
            started = time.monotonic()
            with pytest.raises((psycopg.OperationalError, AwsWrapperError)), anyio.fail_after(20):
                await connect(tb, **props, user="limited_role", failover_timeout_sec=2)
            elapsed = time.monotonic() - started
        finally:
            await other.close()
            await release_resources()
    finally:
        await drop_role(admin)
        await admin.close()
    attempts = sum("failover candidate" in r.getMessage() for r in caplog.records)
    assert 1.5 < elapsed < 6, elapsed
    assert 1 <= attempts <= 30, f"{attempts} attempts at the writer in {elapsed:.1f} s"


async def drop_role(admin: psycopg.AsyncConnection[Any]) -> None:
    exists = await (await admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'limited_role'")).fetchone()
    if exists:
        await admin.execute("DROP OWNED BY limited_role")
        await admin.execute("DROP ROLE limited_role")
