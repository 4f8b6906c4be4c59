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
    props = {"autocommit": True, "monitor_disposal_time_ms": 0, "failover_timeout_sec": 30}
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
