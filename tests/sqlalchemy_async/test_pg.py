"""``postgresql+awsasyncwrap_psycopg`` against a real PostgreSQL server: ORM, type info, errors."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, select, text, update
from sqlalchemy.dialects.postgresql import HSTORE
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import awsasyncwrap
from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.errors import FailoverFailedError, FailoverSuccessError
from awsasyncwrap.plugins.dev import DeveloperPlugin
from awsasyncwrap.sqlalchemy import register
from awsasyncwrap.sqlalchemy.psycopg import AwsPGDialectAsync_psycopg
from awsasyncwrap.testbed import Testbed

from .conftest import pg_url
from .models import Base, Item

pytestmark = pytest.mark.timeout(60)


async def raw_proxy(engine: AsyncEngine) -> AsyncAwsConnection:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        proxy = raw.driver_connection
        assert isinstance(proxy, AsyncAwsConnection)
        return proxy


async def test_orm_roundtrip(pg_engine: AsyncEngine) -> None:
    assert isinstance(pg_engine.dialect, AwsPGDialectAsync_psycopg)
    async with pg_engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    sessions = async_sessionmaker(pg_engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        session.add_all([Item(id=1, name="one"), Item(id=2, name="two")])
    async with sessions() as session:
        items = (await session.scalars(select(Item).order_by(Item.id))).all()
        assert [(i.id, i.name) for i in items] == [(1, "one"), (2, "two")]
        result = await session.execute(update(Item).where(Item.id == 2).values(name="two"))
        assert result.rowcount == 1  # type: ignore[attr-defined]
        await session.commit()
    # the DBAPI connection SQLAlchemy holds is the wrapper's proxy
    proxy = await raw_proxy(pg_engine)
    assert proxy.plugin_service.driver_dialect.code == "psycopg"


async def test_type_info_fetch_and_hstore(pg_engine: AsyncEngine) -> None:
    async with pg_engine.begin() as conn:
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS hstore"))
    # a new engine so that initialize() sees hstore and registers it through TypeInfo.fetch
    engine = create_async_engine(pg_engine.url)
    try:
        meta = MetaData()
        table = Table("sa_hstore", meta, Column("id", Integer, primary_key=True), Column("data", HSTORE))
        async with engine.begin() as conn:
            await conn.run_sync(meta.drop_all)
            await conn.run_sync(meta.create_all)
            await conn.execute(table.insert().values(id=1, data={"a": "1", "b": None}))
            row = (await conn.execute(select(table.c.data))).one()
            assert row.data == {"a": "1", "b": None}
        assert engine.dialect._has_native_hstore  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_read_only_option_reaches_the_wrapper(pg_engine: AsyncEngine) -> None:
    async with pg_engine.connect() as conn:
        conn = await conn.execution_options(postgresql_readonly=True)
        assert (await conn.execute(text("SHOW transaction_read_only"))).scalar() == "on"
        raw = await conn.get_raw_connection()
        assert AsyncAwsConnection.of(raw.driver_connection).plugin_service.session_state.read_only is True


def flavoured(cls: type[Exception], message: str) -> Exception:
    """A failover error as the failover plugin raises it: also a psycopg.OperationalError."""
    flavour: type[Exception] = type(cls.__name__, (cls, psycopg.OperationalError), {})
    return flavour(message)


async def test_failover_success_keeps_connection_failed_invalidates(pg_engine: AsyncEngine) -> None:
    async with pg_engine.connect() as conn:
        proxy = AsyncAwsConnection.of((await conn.get_raw_connection()).driver_connection)
        DeveloperPlugin.of(proxy).simulator.raise_on_next_call(
            flavoured(FailoverSuccessError, "failed over"), "Cursor.execute"
        )
        with pytest.raises(OperationalError) as info:
            await conn.execute(text("SELECT 1"))
        assert isinstance(info.value.orig, FailoverSuccessError)
        assert not info.value.connection_invalidated and not conn.invalidated
        await conn.rollback()
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    assert await raw_proxy(pg_engine) is proxy  # still pooled
    async with pg_engine.connect() as conn:
        proxy = AsyncAwsConnection.of((await conn.get_raw_connection()).driver_connection)
        DeveloperPlugin.of(proxy).simulator.raise_on_next_call(
            flavoured(FailoverFailedError, "gave up"), "Cursor.execute"
        )
        with pytest.raises(OperationalError) as info:
            await conn.execute(text("SELECT 1"))
        assert isinstance(info.value.orig, FailoverFailedError)
        assert info.value.connection_invalidated
    assert proxy.closed
    assert await raw_proxy(pg_engine) is not proxy


async def test_pre_ping_that_fails_over_hands_out_the_connection(pg_server: Testbed) -> None:
    engine = create_async_engine(
        pg_url(pg_server, wrapper_plugins="dev", wrapper_dialect="pg"),
        pool_size=1,
        max_overflow=0,
        pool_pre_ping=True,
    )
    try:
        proxy = await raw_proxy(engine)
        DeveloperPlugin.of(proxy).simulator.raise_on_next_call(
            flavoured(FailoverSuccessError, "failed over"), "Cursor.execute"
        )
        async with engine.connect() as conn:
            assert (await conn.get_raw_connection()).driver_connection is proxy
            assert (await conn.execute(text("SELECT 2"))).scalar() == 2
    finally:
        await engine.dispose()


async def test_register_helper_and_wrapper_properties_in_url(pg_server: Testbed) -> None:
    register()
    register()  # idempotent
    engine = create_async_engine(
        pg_url(pg_server, wrapper_plugins="execute_time", application_name="sa-test", wrapper_dialect="pg")
    )
    try:
        proxy = await raw_proxy(engine)
        assert [type(p).__name__ for p in proxy.plugin_service.plugins] == ["ExecuteTimePlugin"]
        async with engine.connect() as conn:
            assert (await conn.execute(text("SHOW application_name"))).scalar() == "sa-test"
    finally:
        await engine.dispose()


async def test_plugins_through_connect_args(pg_server: Testbed) -> None:
    # SQLAlchemy strips ?plugins= from URLs (its own engine plugins): connect_args is the other way
    engine = create_async_engine(
        pg_url(pg_server, wrapper_dialect="pg"), connect_args={"plugins": "execute_time,dev"}
    )
    try:
        proxy = await raw_proxy(engine)
        assert {type(p).__name__ for p in proxy.plugin_service.plugins} == {
            "ExecuteTimePlugin",
            "DeveloperPlugin",
        }
    finally:
        await engine.dispose()


async def test_bad_wrapper_property_in_url_fails_clearly(pg_server: Testbed) -> None:
    engine = create_async_engine(pg_url(pg_server, wrapper_plugins="no_such_plugin"))
    try:
        with pytest.raises(awsasyncwrap.ConfigurationError, match="no_such_plugin"):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()


async def test_server_side_cursor_stream(pg_engine: AsyncEngine) -> None:
    async with pg_engine.connect() as conn:
        result = await conn.stream(text("SELECT generate_series(1, 5)"))
        rows: list[Any] = [row[0] async for row in result]
        assert rows == [1, 2, 3, 4, 5]


async def test_server_side_disconnect_invalidates_the_connection(
    pg_engine: AsyncEngine, pg_server: Testbed
) -> None:
    async with pg_engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        proxy = AsyncAwsConnection.of((await conn.get_raw_connection()).driver_connection)
    async with await psycopg.AsyncConnection.connect(
        pg_server.dsn(pg_server.writer), autocommit=True
    ) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    async with pg_engine.connect() as conn:
        with pytest.raises(OperationalError) as info:
            await conn.execute(text("SELECT 1"))
        assert info.value.connection_invalidated  # SQLAlchemy recognised the disconnect
    assert proxy.closed
    async with pg_engine.connect() as conn:  # a fresh connection replaces it
        assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar() != pid
