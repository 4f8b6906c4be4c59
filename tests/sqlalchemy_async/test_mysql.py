"""``mysql+awsasyncwrap_aiomysql`` against a real MariaDB server: ORM, FOUND_ROWS, ping, errors."""

from __future__ import annotations

import aiomysql
import pymysql
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from awsasyncwrap import AsyncAwsConnection
from awsasyncwrap.errors import FailoverFailedError, FailoverSuccessError
from awsasyncwrap.plugins.dev import DeveloperPlugin
from awsasyncwrap.sqlalchemy.aiomysql import AwsMySQLDialect_aiomysql
from awsasyncwrap.testbed import Testbed

from .conftest import mysql_url
from .models import Base, Item

pytestmark = pytest.mark.timeout(60)


async def test_orm_roundtrip_and_found_rows(mysql_engine: AsyncEngine) -> None:
    assert isinstance(mysql_engine.dialect, AwsMySQLDialect_aiomysql)
    async with mysql_engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, AsyncAwsConnection)
    assert mysql_engine.dialect.is_mariadb
    sessions = async_sessionmaker(mysql_engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        session.add_all([Item(id=1, name="one"), Item(id=2, name="two")])
    async with sessions() as session:
        items = (await session.scalars(select(Item).order_by(Item.id))).all()
        assert [(i.id, i.name) for i in items] == [(1, "one"), (2, "two")]
        # FOUND_ROWS: an UPDATE that changes nothing still counts the matched row
        result = await session.execute(update(Item).where(Item.id == 2).values(name="two"))
        assert result.rowcount == 1  # type: ignore[attr-defined]
        await session.commit()
    # ORM versioning-style check relies on sane rowcounts: updating a loaded object with its own value works
    async with sessions() as session, session.begin():
        item = await session.get(Item, 1)
        assert item is not None
        item.name = "one"
    async with mysql_engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM sa_items"))).scalar() == 2


async def test_pre_ping_and_isolation_level(mariadb_server: Testbed) -> None:
    engine = create_async_engine(
        mysql_url(mariadb_server, wrapper_plugins="dev", wrapper_dialect="mariadb"),
        pool_pre_ping=True,
        isolation_level="READ COMMITTED",
    )
    try:
        for _ in range(2):
            async with engine.connect() as conn:
                level = (await conn.execute(text("SELECT @@tx_isolation"))).scalar()
                assert level == "READ-COMMITTED"
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            raw = await conn.get_raw_connection()
            assert AsyncAwsConnection.of(raw.driver_connection).get_autocommit()
    finally:
        await engine.dispose()


def flavoured(cls: type[Exception], message: str) -> Exception:
    """A failover error as the failover plugin raises it: also a pymysql OperationalError."""
    flavour: type[Exception] = type(cls.__name__, (cls, pymysql.err.OperationalError), {})
    return flavour(message)


async def test_failover_errors(mysql_engine: AsyncEngine) -> None:
    async with mysql_engine.connect() as conn:
        proxy = AsyncAwsConnection.of((await conn.get_raw_connection()).driver_connection)
        DeveloperPlugin.of(proxy).simulator.raise_on_next_call(
            flavoured(FailoverSuccessError, "failed over"), "Cursor.execute"
        )
        with pytest.raises(OperationalError) as info:
            await conn.execute(text("SELECT 1"))
        assert not info.value.connection_invalidated
        await conn.rollback()
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        DeveloperPlugin.of(proxy).simulator.raise_on_next_call(
            flavoured(FailoverFailedError, "gave up"), "Cursor.execute"
        )
        with pytest.raises(OperationalError) as info:
            await conn.execute(text("SELECT 1"))
        assert info.value.connection_invalidated
    assert proxy.closed


async def test_server_side_disconnect_invalidates_the_connection(
    mysql_engine: AsyncEngine, mariadb_server: Testbed
) -> None:
    async with mysql_engine.connect() as conn:
        conn_id = (await conn.execute(text("SELECT CONNECTION_ID()"))).scalar()
        proxy = AsyncAwsConnection.of((await conn.get_raw_connection()).driver_connection)
    admin = await aiomysql.connect(**mariadb_server.connect_kwargs(mariadb_server.writer), autocommit=True)
    try:
        async with admin.cursor() as cur:
            await cur.execute(f"KILL {int(conn_id or 0)}")
    finally:
        admin.close()
    async with mysql_engine.connect() as conn:
        with pytest.raises(OperationalError) as info:
            await conn.execute(text("SELECT 1"))
        assert info.value.connection_invalidated  # SQLAlchemy recognised the disconnect
    assert proxy.closed
    async with mysql_engine.connect() as conn:  # a fresh connection replaces it
        assert (await conn.execute(text("SELECT CONNECTION_ID()"))).scalar() != conn_id
