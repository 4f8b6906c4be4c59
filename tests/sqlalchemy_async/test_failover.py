"""The ORM through a real writer failover on the emulated Aurora clusters."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from awsasyncwrap import release_resources
from awsasyncwrap.errors import FailoverSuccessError
from awsasyncwrap.testbed import Testbed

from .conftest import mysql_url, pg_url
from .models import Base, Item

pytestmark = [pytest.mark.timeout(90), pytest.mark.cluster]

MARIADB_TOPOLOGY_PROPS: dict[str, Any] = {
    "wrapper_dialect": "aurora-mysql",
    "topology_query": (
        "SELECT SERVER_ID, CASE WHEN SESSION_ID = 'MASTER_SESSION_ID' THEN TRUE ELSE FALSE END, CPU, "
        "REPLICA_LAG_IN_MILLISECONDS, LAST_UPDATE_TIMESTAMP FROM aurora_emul.replica_host_status"
    ),
    "host_id_query": "SELECT @@report_host",
    "is_reader_query": "SELECT @@read_only",
}


def cluster_engine(tb: Testbed) -> AsyncEngine:
    props: dict[str, Any] = {
        "plugins": "failover",
        "cluster_instance_host_pattern": tb.host_pattern,
        "failover_timeout_sec": 30,
    }
    if tb.engine == "postgres":
        url = pg_url(tb, "cluster")
    else:
        url, props = mysql_url(tb, "cluster"), {**MARIADB_TOPOLOGY_PROPS, **props}
    return create_async_engine(url, connect_args=props, pool_size=2, max_overflow=0)


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
            proxy = (await conn.get_raw_connection()).driver_connection
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
