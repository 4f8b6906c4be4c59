"""Helpers of the AWS authentication tests."""

from __future__ import annotations

from typing import Any

from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.aws import aws_session


async def connect(logins: Any, plugins: str, /, **props: Any) -> AsyncAwsConnection:
    """A wrapped connection to the test database of ``logins`` (see conftest ``DbLogins``)."""
    return AsyncAwsConnection.of(
        await AsyncAwsConnection.connect(logins.connect_func, plugins=plugins, **{**logins.props(), **props})
    )


async def whoami(conn: AsyncAwsConnection) -> str:
    """The database user the server authenticated."""
    driver = conn.plugin_service.driver_dialect.code
    sql = "SELECT current_user" if driver == "psycopg" else "SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)"
    cur = conn.cursor()
    await cur.execute(sql)
    row = await cur.fetchone()
    await cur.close()
    assert row is not None
    return str(row[0])


def count_calls(event: str) -> list[str]:
    """Record every AWS API call matching ``event`` (e.g. ``before-call.secrets-manager.GetSecretValue``)
    made through the plugins' default session; returns the (growing) list of event names."""
    calls: list[str] = []

    def record(event_name: str, **_: Any) -> None:
        calls.append(event_name)

    aws_session().events.register(event, record)
    return calls
