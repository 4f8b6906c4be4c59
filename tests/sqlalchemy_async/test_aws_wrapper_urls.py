"""aws-advanced-python-wrapper's SQLAlchemy URL names open our dialects, so its users keep their URLs
(``postgresql+aws_wrapper_psycopg://``, ``mysql+aws_wrapper_aiomysql://``, plugins in ``wrapper_plugins``)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

from awsasyncwrap import AsyncAwsConnection, ConfigurationError
from awsasyncwrap.plugins.dev import DeveloperPlugin
from awsasyncwrap.sqlalchemy.aiomysql import AwsMySQLDialect_aiomysql
from awsasyncwrap.sqlalchemy.psycopg import AwsPGDialectAsync_psycopg
from awsasyncwrap.testbed import Testbed

from .conftest import mysql_url, pg_url

pytestmark = pytest.mark.timeout(60)


async def test_the_aws_wrapper_url_names_open_wrapped_connections(server_testbed: Testbed) -> None:
    tb = server_testbed
    if tb.engine == "postgres":
        ours = pg_url(tb, wrapper_plugins="dev", wrapper_dialect="pg")
        url = ours.replace("+awsasyncwrap_psycopg://", "+aws_wrapper_psycopg://")
        dialect: type = AwsPGDialectAsync_psycopg
    else:
        ours = mysql_url(tb, wrapper_plugins="dev", wrapper_dialect="mariadb")
        url = ours.replace("+awsasyncwrap_aiomysql://", "+aws_wrapper_aiomysql://")
        dialect = AwsMySQLDialect_aiomysql
    assert url != ours
    engine = create_async_engine(url)  # found through the package's entry points, no register() call
    try:
        assert type(engine.dialect) is dialect
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
            raw = await conn.get_raw_connection()
            proxy = AsyncAwsConnection.of(raw.driver_connection)
            assert [type(p) for p in proxy.plugin_service.plugins] == [DeveloperPlugin]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+aws_wrapper_psycopg://app@mydb.cluster-xyz.us-east-1.rds.amazonaws.com/app",
        "postgresql+awsasyncwrap_psycopg://app@mydb.cluster-xyz.us-east-1.rds.amazonaws.com/app",
        "mysql+aws_wrapper_aiomysql://app:pw@mydb.cluster-xyz.us-east-1.rds.amazonaws.com/app",
        "mysql+awsasyncwrap_aiomysql://app:pw@mydb.cluster-xyz.us-east-1.rds.amazonaws.com/app",
    ],
)
def test_the_sync_engine_is_refused_with_what_to_use(url: str) -> None:
    """Their PostgreSQL URL also serves their sync wrapper; ours are asyncio only, and say so (before any I/O,
    no coroutine left un-awaited: warnings are errors in this suite)."""
    engine = create_engine(url)
    try:
        with pytest.raises(ConfigurationError, match=r"asyncio-only: .*create_async_engine"):
            engine.connect()
    finally:
        engine.dispose()
