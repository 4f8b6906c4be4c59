"""The ORM through a real writer failover on the emulated Aurora clusters."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from awsasyncwrap import AsyncAwsConnection, release_resources
from awsasyncwrap.errors import FailoverSuccessError, TransactionResolutionUnknownError
from awsasyncwrap.testbed import Testbed

from .conftest import mysql_url, pg_url
from .models import Base, Item

pytestmark = [pytest.mark.timeout(90), pytest.mark.cluster]


def cluster_engine(tb: Testbed, **engine_options: Any) -> AsyncEngine:
    props: dict[str, Any] = {"plugins": "failover", **tb.wrapper_props(), "failover_timeout_sec": 30}
    url = pg_url(tb, "cluster") if tb.engine == "postgres" else mysql_url(tb, "cluster")
    return create_async_engine(url, connect_args=props, pool_size=2, max_overflow=0, **engine_options)


async def test_pg_orm_through_failover(pg_cluster: Testbed) -> None:
    await orm_through_failover(pg_cluster)


async def test_mysql_orm_through_failover(mariadb_cluster: Testbed) -> None:
    await orm_through_failover(mariadb_cluster)


async def orm_through_failover(tb: Testbed) -> None:
    engine = cluster_engine(tb)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            session.add_all([Item(id=i, name=f"n{i}") for i in range(1, 6)])
        async with engine.connect() as conn:
            proxy = AsyncAwsConnection.of((await conn.get_raw_connection()).driver_connection)
        old_writer = tb.writer.id
        await tb.failover()

        # the first statement on the pooled connection meets the failover: SQLAlchemy reports it, keeps the
        # connection (not invalidated); the application retries its unit of work
        async with sessions() as session:
            with pytest.raises(OperationalError) as info:
                async with session.begin():
                    session.add(Item(id=6, name="n6"))
            assert isinstance(info.value.orig, FailoverSuccessError)
            assert not info.value.connection_invalidated
        async with sessions() as session, session.begin():
            session.add(Item(id=6, name="n6"))
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Item)) == 6
        async with engine.connect() as conn:
            assert (await conn.get_raw_connection()).driver_connection is proxy  # the same pooled connection
        assert proxy.current_host is not None and proxy.current_host.host_id == tb.writer.id != old_writer
    finally:
        await engine.dispose()
        await release_resources()


async def test_pg_failover_inside_a_transaction(pg_cluster: Testbed) -> None:
    await failover_inside_a_transaction(pg_cluster)


async def test_mysql_failover_inside_a_transaction(mariadb_cluster: Testbed) -> None:
    await failover_inside_a_transaction(mariadb_cluster)


async def failover_inside_a_transaction(tb: Testbed) -> None:
    """A unit of work that meets a failover half way: outcome unknown, connection kept, the retry commits."""
    engine = cluster_engine(tb)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
        await tb.wait_replicated()
        sessions = async_sessionmaker(engine, expire_on_commit=False)

        async def unit_of_work(session: Any, meet_failover: bool) -> None:
            async with session.begin():
                session.add(Item(id=1, name="n1"))
                await session.flush()  # the transaction is open on the writer
                if meet_failover:
                    await tb.failover()
                session.add(Item(id=2, name="n2"))

        async with sessions() as session:
            with pytest.raises(OperationalError) as info:
                await unit_of_work(session, meet_failover=True)
            assert isinstance(info.value.orig, TransactionResolutionUnknownError)
            assert not info.value.connection_invalidated
        async with sessions() as session:
            await unit_of_work(session, meet_failover=False)  # the application redoes the whole unit
        async with sessions() as session:
            names = (await session.scalars(select(Item.name).order_by(Item.id))).all()
            assert names == ["n1", "n2"]
    finally:
        await engine.dispose()
        await release_resources()


async def test_pg_pre_ping_fails_idle_connections_over_unseen(pg_cluster: Testbed) -> None:
    await pre_ping_fails_idle_connections_over_unseen(pg_cluster)


async def test_mysql_pre_ping_fails_idle_connections_over_unseen(mariadb_cluster: Testbed) -> None:
    await pre_ping_fails_idle_connections_over_unseen(mariadb_cluster)


async def pre_ping_fails_idle_connections_over_unseen(tb: Testbed) -> None:
    """pool_pre_ping: the ping meets the failover and the pooled connection moves; the app sees nothing."""
    engine = cluster_engine(tb, pool_pre_ping=True)
    try:
        async with engine.connect() as conn:
            proxy = AsyncAwsConnection.of((await conn.get_raw_connection()).driver_connection)
            await conn.execute(select(1))
        report = await tb.failover()
        async with engine.connect() as conn:
            assert (await conn.get_raw_connection()).driver_connection is proxy
            assert (await conn.execute(select(1))).scalar() == 1
        assert proxy.current_host is not None and proxy.current_host.host_id == report.new_writer
    finally:
        await engine.dispose()
        await release_resources()
